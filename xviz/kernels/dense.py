"""Baselines: full attention through SDPA (flash / memory-efficient kernels where the device has them), the
explicit dense-masked computation QKᵀ → mask → softmax → ·V, and SDPA with a boolean mask."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sdpa_full(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Unmasked softmax attention, fused. (B, H, N, D)"""
    return F.scaled_dot_product_attention(q, k, v)


def dense_masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, forbidden: torch.Tensor) -> torch.Tensor:
    """The explicit computation with an (N, N) mask given as `forbidden` (= ~allowed, built once outside):
    scores (B, H, N, N) are materialised, masked in place, softmaxed, multiplied by V."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, N, N)
    scores.masked_fill_(forbidden, torch.finfo(scores.dtype).min)
    return scores.softmax(-1) @ v


def sdpa_masked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """SDPA with a boolean (N, N) mask (True = may attend): fused, but every pair is still visited."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
