"""Device and dtype choice (CUDA, then Apple MPS, then CPU) and the CUDA out-of-memory fallback."""
from __future__ import annotations

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
