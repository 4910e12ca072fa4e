"""Shared timing helper of the benchmark scripts: interleaved runs, median milliseconds."""

from __future__ import annotations

import statistics
import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(fns: dict, repeats: int, device: torch.device) -> dict:
    """Median ms of each callable; one warm-up each, then rounds that run every callable once (interleaved, so
    machine noise hits all variants alike)."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}
