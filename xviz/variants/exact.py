"""Exact attention (full, masked by any pattern) and FNet's attention-free Fourier token mixing."""

from __future__ import annotations

import math

import torch

from xviz.layers import masks
from xviz.variants._common import attend, from_4d, to_4d


def full(q, k, v, scale: float | None = None, causal: bool = False):
    """softmax(q·kᵀ/√d) · v (Vaswani et al. 2017). Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    mask = masks.causal(q.shape[-2], device=q.device) if causal else None
    out, attn = attend(q, k, v, mask, scale)
    return from_4d(out, sq), from_4d(attn, sq)


def masked(q, k, v, mask: torch.Tensor, scale: float | None = None):
    """Full attention restricted to a boolean pattern (True = may attend), broadcastable to (B, H, N, N).
    A query with no allowed key outputs zeros."""
    (q, k, v), sq = to_4d(q, k, v)
    out, attn = attend(q, k, v, mask.to(q.device), scale)
    return from_4d(out, sq), from_4d(attn, sq)


def dft_real(n: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """Re(F_n)[i, j] = cos(2π·i·j/n), the token-mixing matrix of FNet's real part. (n, n)"""
    i = torch.arange(n, dtype=torch.float64, device=device)
    return torch.cos(2 * math.pi * torch.outer(i, i) / n).to(dtype)


def fnet(q, k, v, hidden_fft: bool = True):
    """FNet (Lee-Thorp et al. 2021): y = Re(FFT_seq(FFT_hidden(x))), applied to the values as token features.

    The mixing is fixed and input-independent. `attn` is its effective token-mixing matrix Re(F_N): with
    hidden_fft=False, out = Re(F_N)·V exactly; with it, out = Re(F_N)·V·Re(F_D) − Im(F_N)·V·Im(F_D). Rows are not
    probability distributions (no softmax, no normalisation)."""
    (q, k, v), sq = to_4d(q, k, v)
    x = v if v.dtype in (torch.float32, torch.float64) else v.float()
    y = torch.fft.fft(x, dim=-1) if hidden_fft else torch.complex(x, torch.zeros_like(x))  # over the hidden axis
    out = torch.fft.fft(y, dim=-2).real.to(v.dtype)  # then over the sequence axis
    attn = dft_real(v.shape[-2], v.dtype, v.device).expand(*v.shape[:-2], -1, -1)  # (B, H, N, N)
    return from_4d(out, sq), from_4d(attn, sq)
