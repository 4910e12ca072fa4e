"""Measured cost: time and peak memory of each kernel as the sequence grows, on the current device."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from xviz.device import is_oom
from xviz.kernels.memory import peak_memory, time_ms
from xviz.kernels.registry import KERNELS, KernelParams, kernel_available

CPU_BUDGET = 2 * 2**30  # the CPU machine is shared: refuse runs whose estimate exceeds this


def default_sizes(device: torch.device | str) -> list[int]:
    """Sizes that finish in seconds: small on the CPU, up to 16k tokens on a GPU."""
    return [1024, 2048, 4096, 8192, 16384] if torch.device(device).type == "cuda" else [128, 256, 512]


def memory_budget(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    return CPU_BUDGET


def make_qkv(n: int, heads: int, head_dim: int, device, dtype, seed: int = 0):
    """Synthetic (1, H, N, D) queries, keys, values (unit-variance Gaussian, seeded)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, heads, n, head_dim, generator=g).to(device=device, dtype=dtype) for _ in range(3)]


def measure_one(
    name: str,
    n: int,
    device: torch.device,
    dtype: torch.dtype,
    heads: int,
    head_dim: int,
    params: KernelParams,
    repeats: int,
    budget: int,
) -> dict:
    """One (kernel, N) point: median ms and extra peak MiB, or a status saying why it was not run."""
    kn = KERNELS[name]
    row = {"kernel": name, "label": kn.label, "n": n, "ms": None, "peak_mib": None, "status": "ok"}
    need = kn.scratch(heads, n, head_dim, torch.finfo(dtype).bits // 8, params)
    if need > budget:
        row["status"] = f"skipped: needs ~{need / 2**20:,.0f} MiB"
        return row
    q, k, v = make_qkv(n, heads, head_dim, device, dtype, params.seed)
    try:
        with torch.no_grad():
            fn, extra = kn.build(q, k, v, params)
            row["ms"] = time_ms(fn, device, repeats=repeats, warmup=1)
            row["peak_mib"] = peak_memory(fn, device, (q, k, v, *extra)) / 2**20
    except RuntimeError as err:
        if not is_oom(err):
            raise
        row["status"] = "out of memory"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def measure_scaling(
    kernels: Sequence[str],
    sizes: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    heads: int = 8,
    head_dim: int = 64,
    params: KernelParams | None = None,
    repeats: int = 3,
    progress: Callable[[float, str], None] | None = None,
) -> list[dict]:
    """Time and peak memory of each kernel at each sequence length (batch 1). Kernels that need a GPU are
    reported as unavailable; sizes whose memory estimate does not fit are skipped with the estimate."""
    device, params = torch.device(device), params or KernelParams()
    budget = memory_budget(device)
    rows, total, done = [], len(kernels) * len(sizes), 0
    for n in sizes:
        for name in kernels:
            if progress:
                progress(done / total, f"{KERNELS[name].label} at N = {n:,}")
            if not kernel_available(name, device):
                rows.append(
                    {
                        "kernel": name,
                        "label": KERNELS[name].label,
                        "n": n,
                        "ms": None,
                        "peak_mib": None,
                        "status": "needs CUDA (compiled FlexAttention)",
                    }
                )
            else:
                rows.append(measure_one(name, n, device, dtype, heads, head_dim, params, repeats, budget))
            done += 1
    if progress:
        progress(1.0, "done")
    return rows
