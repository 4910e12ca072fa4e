"""Attention collapse (Zhou et al. 2021, DeepViT): how similar the attention maps of two layers are.

M(p, q) = mean over heads h and key columns t of cos(A^p_{h,:,t}, A^q_{h,:,t}): each key column (the attention
that token t receives from every query) of layer p against the same column of layer q. Identical layers give 1;
in a 32-block ViT the paper finds > 0.9 beyond block ~17. Works for any (L, [B,] H, N, N) recording: text
(padding excluded with `valid`) or image.
"""

from __future__ import annotations

import torch


def cross_layer_similarity(probs: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-12) -> torch.Tensor:
    """probs (L, H, N, N) or (L, B, H, N, N); valid (N,) or (B, N) bool for real tokens → (L, L)."""
    p = probs if probs.ndim == 5 else probs[:, None]  # (L, B, H, N, N)
    L, B, H, N, _ = p.shape
    valid = torch.ones(B, N, dtype=torch.bool) if valid is None else valid.reshape(B, N)
    v = valid.float()  # (B, N)
    w = v[:, None, :].expand(B, H, N)  # (B, H, Nk): average over real key columns only

    def unit_columns(layer: int) -> torch.Tensor:
        a = p[layer].float() * v[:, None, :, None]  # padded query rows → 0: not part of any column
        return a / a.norm(dim=-2, keepdim=True).clamp(min=eps)  # unit key columns (norm over the query axis)

    sim = torch.empty(L, L)
    for a in range(L):
        ca = unit_columns(a)
        for b in range(a, L):
            dots = torch.einsum("bhit,bhit->bht", ca, ca if b == a else unit_columns(b))  # cosine per column
            sim[a, b] = sim[b, a] = (dots * w).sum() / w.sum()
    return sim


def per_head_similarity(probs: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """(L, H, N, N) → (L, L, H): the same cosine averaged over key columns only, per head."""
    L, H = probs.shape[:2]

    def unit_columns(layer: int) -> torch.Tensor:
        a = probs[layer].float()  # (H, N, N)
        return a / a.norm(dim=-2, keepdim=True).clamp(min=eps)

    out = torch.empty(L, L, H)
    for a in range(L):
        ca = unit_columns(a)
        for b in range(a, L):
            out[a, b] = out[b, a] = torch.einsum("hit,hit->ht", ca, unit_columns(b)).mean(-1)
    return out
