"""Per-head statistics of attention maps (text or image): entropy, distance, special-token share, norms."""
from __future__ import annotations

import torch


def _query_weights(n: int, valid: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    w = torch.ones(n, dtype=like.dtype) if valid is None else valid.to(like.dtype)
    return w / w.sum().clamp(min=1)


def head_entropy(probs: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean row entropy in nats. probs (..., Nq, Nk) → (...); `valid` (Nq,) bool selects real query tokens."""
    p = probs.float()
    ent = -torch.special.xlogy(p, p).sum(-1)  # (..., Nq); 0·log 0 = 0
    return (ent * _query_weights(p.shape[-2], valid, ent)).sum(-1).float()


def mean_token_distance(probs: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_j a_ij·|i − j| averaged over queries (in tokens). probs (..., N, N) → (...)."""
    n = probs.shape[-1]
    idx = torch.arange(n, dtype=torch.float32)
    dist = (idx[:, None] - idx[None, :]).abs()  # (N, N)
    per_query = (probs.float() * dist).sum(-1)  # (..., N)
    return (per_query * _query_weights(probs.shape[-2], valid, per_query)).sum(-1).float()


def share_on(probs: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Average attention mass that queries put on the key positions `keys` (bool (Nk,)). → (...)."""
    mass = probs.float()[..., keys].sum(-1)  # (..., Nq)
    return (mass * _query_weights(probs.shape[-2], valid, mass)).sum(-1).float()


def head_output_norms(z: torch.Tensor) -> torch.Tensor:
    """Per-head output norm per token. z (H, N, D) → (H, N)."""
    return z.float().norm(dim=-1)


def neuron_view(q: torch.Tensor, k: torch.Tensor, query: int, scale: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BertViz-style neuron view for one query token: q_i ⊙ k_j per dimension (Nk, D) and the scaled dot
    products (Nk,) whose softmax is the attention row. q, k: (N, D)."""
    scale = scale if scale is not None else q.shape[-1] ** -0.5
    prod = q[query][None, :] * k  # (Nk, D)
    return prod, prod.sum(-1) * scale
