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


def neuron_view(
    q: torch.Tensor, k: torch.Tensor, query: int, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """BertViz-style neuron view for one query token: q_i ⊙ k_j per dimension (Nk, D) and the scaled dot
    products (Nk,) whose softmax is the attention row. q, k: (N, D)."""
    scale = scale if scale is not None else q.shape[-1] ** -0.5
    prod = q[query][None, :] * k  # (Nk, D)
    return prod, prod.sum(-1) * scale


def masked_as_nan(scores: torch.Tensor) -> torch.Tensor:
    """Scores with the masked entries (the attention layer's most-negative fill: causal future, padding) as NaN,
    so a figure's colour scale shows the real logits and leaves masked cells blank."""
    s = scores.float()
    return s.masked_fill(s <= torch.finfo(torch.float32).min / 2, float("nan"))


def first_token(valid: torch.Tensor) -> torch.Tensor:
    """bool (N,): only the first real token (position 0 unless the row is left-padded)."""
    keys = torch.zeros_like(valid, dtype=torch.bool)
    real = torch.nonzero(valid).flatten()
    if len(real):
        keys[real[0]] = True
    return keys


def head_stat_maps(
    probs: torch.Tensor, valid: torch.Tensor, special: torch.Tensor, special_label: str
) -> list[tuple[str, torch.Tensor, str]]:
    """The per-head statistics of the Attention page, each (L, H), for probs (L, H, N, N) of one sequence:
    entropy, mean distance, the share on the first token (the attention sink of decoders, Xiao et al. 2023;
    [CLS] in BERT) and, only when the sequence has special tokens, the share on them ([CLS]/[SEP]).
    valid, special: bool (N,) — real tokens, and special tokens among them. Returns (name, map, number format)."""
    valid = valid.bool()
    out = [
        ("entropy (nats)", head_entropy(probs, valid), ".2f"),
        ("mean distance (tokens)", mean_token_distance(probs, valid), ".1f"),
        ("share on the first token (sink)", share_on(probs, first_token(valid), valid), ".2f"),
    ]
    keys = special.bool() & valid
    if keys.any():
        out.append((f"share on {special_label}", share_on(probs, keys, valid), ".2f"))
    return out
