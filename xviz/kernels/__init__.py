"""Measured attention kernels (real speed and memory), as opposed to the visual reference variants."""

from xviz.kernels.dense import dense_masked, sdpa_full, sdpa_masked
from xviz.kernels.flex import flex_available, flex_masked, sliding_window_block_mask
from xviz.kernels.local import sliding_window_blockwise
from xviz.kernels.lowrank import linformer_linear, performer_linear
from xviz.kernels.memory import peak_memory, time_ms
from xviz.kernels.registry import KERNELS, Kernel, KernelParams, kernel_available

__all__ = [
    "sdpa_full",
    "dense_masked",
    "sdpa_masked",
    "sliding_window_blockwise",
    "flex_available",
    "flex_masked",
    "sliding_window_block_mask",
    "performer_linear",
    "linformer_linear",
    "peak_memory",
    "time_ms",
    "KERNELS",
    "Kernel",
    "KernelParams",
    "kernel_available",
]
