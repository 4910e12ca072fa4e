"""Device and dtype choice (CUDA, then Apple MPS, then CPU) and the CUDA out-of-memory fallback."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def available_devices() -> list[str]:
    out = []
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out + ["cpu"]


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' → the best available; an unavailable explicit choice falls back to the best available."""
    avail = available_devices()
    if preference in avail:
        return torch.device(preference)
    return torch.device(avail[0])


def device_label(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def is_oom(err: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(err, oom)) or "out of memory" in str(err).lower()


def run_with_oom_fallback(fn: Callable[[torch.device], T], device: torch.device | str) -> tuple[T, str | None]:
    """Run fn(device); on a GPU out-of-memory error run fn(cpu) instead and return a notice for the user."""
    device = torch.device(device)
    try:
        return fn(device), None
    except RuntimeError as err:
        if device.type == "cpu" or not is_oom(err):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        notice = f"The {device.type.upper()} ran out of memory; this result was computed on the CPU instead."
        return fn(torch.device("cpu")), notice


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc <malloc.h>


@functools.cache  # app.py runs on every rerun: set the allocator once per process
def reuse_freed_memory(trim_mb: int = 2047, mmap_mb: int = 32) -> bool:
    """Ask glibc malloc to keep freed memory for reuse instead of returning it to the OS at once.

    On the CPU, what recording costs is mostly fresh memory (page faults on every new 9 MB score matrix). With
    tensors up to `mmap_mb` served from the heap and up to `trim_mb` of freed heap kept, the next recording reuses
    the last one's pages: SmolLM2 at 512 tokens records every attention hook at ~1.08× HF eager instead of ~1.3×
    (benchmarks/bench_lm.py). The price: the process keeps its peak memory. Linux/glibc only; returns False
    (and changes nothing) elsewhere.
    """

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_mb * 2**20)  # glibc caps this at 32 MB on 64-bit
    ok &= mallopt(_M_TRIM_THRESHOLD, min(trim_mb, 2047) * 2**20)  # a C int
    ok &= mallopt(_M_TOP_PAD, 64 * 2**20)
    return bool(ok)
