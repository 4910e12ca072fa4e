"""Timing and peak-memory measurement of one kernel call on the current device.

CUDA: torch.cuda peak statistics. CPU: a TorchDispatchMode that adds up the storages the call allocates and
notices when they die (every tensor an aten op returns passes through it), so the peak is that of tensors the
call creates — fused kernels' internal scratch is not seen on the CPU.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class _PeakTracker(TorchDispatchMode):
    def __init__(self, inputs=()):
        super().__init__()
        self.inputs = {t.untyped_storage().data_ptr() for t in inputs if isinstance(t, torch.Tensor)}
        self.live: dict[int, tuple[int, list]] = {}  # storage data_ptr → (bytes, weakrefs of its tensors)
        self.current = self.peak = 0

    def _sweep(self) -> None:
        for ptr in [p for p, (_, refs) in self.live.items() if all(r() is None for r in refs)]:
            self.current -= self.live.pop(ptr)[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self._sweep()
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                self._add(t)
        self.peak = max(self.peak, self.current)
        return out

    def _add(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        ptr = st.data_ptr()
        if ptr in self.live:
            self.live[ptr][1].append(weakref.ref(t))
        elif ptr not in self.inputs:
            self.live[ptr] = (st.nbytes(), [weakref.ref(t)])
            self.current += st.nbytes()


def peak_memory(fn: Callable[[], object], device: torch.device | str, inputs=()) -> int:
    """Extra bytes allocated at the peak of one fn() call, beyond what existed before (inputs, masks)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del out
        return int(peak)
    tracker = _PeakTracker(inputs)
    with tracker:
        out = fn()
    del out
    return int(tracker.peak)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device | str, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn() in milliseconds (device synchronised around each call)."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)
