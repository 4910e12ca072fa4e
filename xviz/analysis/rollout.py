"""Attention rollout (Abnar & Zuidema 2020) and per-token attention maps on the patch grid.

Rollout: Â_l = (1 − α)·A_l + α·I with α = 0.5 (the residual connection), heads fused by mean / max / min,
each **row** renormalised to sum to 1 (Â / Â.sum(-1, keepdim=True): dividing by a sum that broadcasts along the
other axis is the classic bug), then R = Â_L ⋯ Â_2 · Â_1. Row i of R: how much each input token flows into token
i at the top. For mean fusion the rows of Â already sum to 1; for max / min they do not, so the axis matters.
"""

from __future__ import annotations

import torch

FUSIONS = ("mean", "max", "min")


def fuse_heads(probs: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """(..., H, N, N) → (..., N, N)."""
    if fusion == "mean":
        return probs.mean(-3)
    if fusion == "max":
        return probs.amax(-3)
    if fusion == "min":
        return probs.amin(-3)
    raise ValueError(f"head fusion must be one of {FUSIONS}, got {fusion!r}")


def rollout(
    probs: torch.Tensor, fusion: str = "mean", residual: float = 0.5, layers: int | None = None
) -> torch.Tensor:
    """probs (L, H, N, N) or (L, B, H, N, N) → R (N, N) or (B, N, N), through the first `layers` layers."""
    L = probs.shape[0] if layers is None else layers
    joint = torch.eye(probs.shape[-1])
    for layer in range(L):
        joint = residual_attention(probs[layer], fusion, residual) @ joint  # Â_l · (Â_{l−1} ⋯ Â_1)
    return joint


def residual_attention(probs_layer: torch.Tensor, fusion: str = "mean", residual: float = 0.5) -> torch.Tensor:
    """Â = (1 − α)·fuse(A) + α·I with rows renormalised. (..., H, N, N) → (..., N, N)."""
    a = fuse_heads(probs_layer.float(), fusion)  # (..., N, N)
    a = (1.0 - residual) * a + residual * torch.eye(a.shape[-1])
    return a / a.sum(-1, keepdim=True)  # each row sums to 1 (keepdim: divide row i by its own sum)


def rollout_row(
    probs: torch.Tensor, query: int, fusion: str = "mean", residual: float = 0.5, layers: int | None = None
) -> torch.Tensor:
    """Row `query` of the rollout, R[q] = e_qᵀ·Â_L ⋯ Â_1, in O(L·N²) (vector × matrix from the top).
    probs (L, H, N, N) → (N,)."""
    L = probs.shape[0] if layers is None else layers
    v = torch.zeros(probs.shape[-1])
    v[query] = 1.0
    for layer in reversed(range(L)):
        v = v @ residual_attention(probs[layer], fusion, residual)
    return v


def rollout_uniform_closed_form(n: int, layers: int, residual: float = 0.5) -> torch.Tensor:
    """Uniform attention U = 11ᵀ/N is idempotent, so ((1−α)U + αI)^L = α^L·I + (1 − α^L)·U."""
    u = torch.full((n, n), 1.0 / n)
    return residual**layers * torch.eye(n) + (1 - residual**layers) * u


def token_map(row: torch.Tensor, num_prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """One attention row over all tokens (N,) → its patch part on the grid (gh, gw); prefix tokens dropped."""
    gh, gw = grid
    return row[num_prefix : num_prefix + gh * gw].float().reshape(gh, gw)  # (gh·gw,) -> (gh, gw)


def attention_map(
    probs_layer: torch.Tensor,
    query: int,
    head: int | None,
    num_prefix: int,
    grid: tuple[int, int],
    fusion: str = "mean",
) -> torch.Tensor:
    """probs of one layer (H, N, N): where token `query` looks, for one head or fused heads → (gh, gw)."""
    rows = probs_layer[:, query]  # (H, N)
    row = rows[head] if head is not None else fuse_heads(rows[:, None], fusion)[0]
    return token_map(row, num_prefix, grid)


def all_head_maps(probs: torch.Tensor, query: int, num_prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """(L, H, N, N) → (L, H, gh, gw): the query's attention over patches in every layer and head."""
    gh, gw = grid
    rows = probs[:, :, query, num_prefix : num_prefix + gh * gw].float()  # (L, H, gh·gw)
    return rows.reshape(*rows.shape[:2], gh, gw)  # (L, H, gh, gw)


def prefix_share(row: torch.Tensor, num_prefix: int) -> float:
    """Share of an attention row that lands on CLS / registers (not shown on the patch grid)."""
    return float(row[:num_prefix].sum())
