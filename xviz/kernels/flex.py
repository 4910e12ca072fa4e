"""Block-sparse attention through torch FlexAttention (torch ≥ 2.5), compiled on CUDA.

Without torch.compile FlexAttention runs an unfused reference path that materialises all scores: correct (the
tests use it on the CPU) but not a fair timing, so measurements use it only where `flex_available` says so.
"""

from __future__ import annotations

import functools
import warnings

import torch


def flex_importable() -> bool:
    try:
        from torch.nn.attention import flex_attention  # noqa: PLC0415, F401  (FlexAttention exists only in newer torch builds)
    except ImportError:
        return False
    return True


def flex_available(device: torch.device | str) -> bool:
    """True where a compiled (fused) FlexAttention kernel can run: CUDA with torch's flex_attention module."""
    return torch.device(device).type == "cuda" and flex_importable()


@functools.cache
def _compiled():
    from torch.nn.attention.flex_attention import flex_attention  # noqa: PLC0415  (FlexAttention exists only in newer torch builds)

    return torch.compile(flex_attention)


def sliding_window_block_mask(n: int, w: int, device, block_size: int = 128):
    """BlockMask of |i − j| ≤ w/2 (same pattern as sparse_masks.sliding_window)."""
    from torch.nn.attention.flex_attention import create_block_mask  # noqa: PLC0415  (FlexAttention exists only in newer torch builds)

    half = w // 2

    def mask_mod(b, h, q_idx, kv_idx):
        return (q_idx - kv_idx).abs() <= half

    return create_block_mask(mask_mod, None, None, n, n, device=device, BLOCK_SIZE=block_size)


def pattern_block_mask(allowed: torch.Tensor, block_size: int = 128):
    """BlockMask of any (N, N) boolean pattern (e.g. BigBird), looked up from the tensor."""
    from torch.nn.attention.flex_attention import create_block_mask  # noqa: PLC0415  (FlexAttention exists only in newer torch builds)

    n = allowed.shape[-1]

    def mask_mod(b, h, q_idx, kv_idx):
        return allowed[q_idx, kv_idx]

    return create_block_mask(mask_mod, None, None, n, n, device=allowed.device, BLOCK_SIZE=block_size)


def flex_masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_mask, compiled: bool = True) -> torch.Tensor:
    """FlexAttention with a BlockMask; compiled=False runs the eager reference path (any device)."""
    if compiled:
        return _compiled()(q, k, v, block_mask=block_mask)

    from torch.nn.attention.flex_attention import flex_attention  # noqa: PLC0415  (FlexAttention exists only in newer torch builds)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return flex_attention(q, k, v, block_mask=block_mask)
