"""Linear-in-N kernels: Performer FAVOR+ (never forms N × N) and Linformer (N × k scores)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _features_(x: torch.Tensor, omega: torch.Tensor, per_row: bool) -> torch.Tensor:
    """exp(ωᵀx − ‖x‖²/2 − max), computed in place on one (B, H, N, m) buffer. The 1/√m factor and the max
    cancel in D⁻¹ (Choromanski et al. 2021, FAVOR+ with positive features)."""
    f = x @ omega.T  # (B, H, N, m)
    f.sub_((x * x).sum(-1, keepdim=True).mul_(0.5))
    f.sub_(f.amax(-1, keepdim=True) if per_row else f.amax((-1, -2), keepdim=True))
    return f.exp_()


def performer_linear(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """out = D⁻¹·φ(Q)·(φ(K)ᵀV): O(N·m·D) time, O(N·m) memory. omega (m, D) in q's dtype."""
    s = q.shape[-1] ** -0.25
    pq = _features_(q * s, omega, per_row=True)
    pk = _features_(k * s, omega, per_row=False)
    kv = pk.transpose(-2, -1) @ v  # (B, H, m, D)
    den = pq @ pk.sum(-2, keepdim=True).transpose(-2, -1)  # (B, H, N, 1)
    return (pq @ kv).div_(den)


def linformer_linear(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, E: torch.Tensor, Fp: torch.Tensor
) -> torch.Tensor:
    """softmax(Q(EK)ᵀ/√d)(FV) with E, F (k, N): keys and values projected to k rows, then fused SDPA."""
    return F.scaled_dot_product_attention(q, E @ k, Fp @ v)  # E @ k: (B, H, k, D)
