"""Shared helpers for the variants: (N, D) ↔ (B, H, N, D) handling and a masked softmax that keeps empty rows 0."""

from __future__ import annotations

import math

import torch


def to_4d(*xs: torch.Tensor) -> tuple[list[torch.Tensor], bool]:
    """Accept q/k/v as (N, D) or (B, H, N, D); return them as (B, H, N, D) and whether to squeeze back."""
    dims = {x.dim() for x in xs}
    if dims == {2}:
        return [x[None, None] for x in xs], True  # (N, D) → (1, 1, N, D)
    if dims == {4}:
        return list(xs), False
    raise ValueError(f"q, k, v must all be (N, D) or (B, H, N, D); got shapes {[tuple(x.shape) for x in xs]}")


def from_4d(t: torch.Tensor | None, squeeze: bool) -> torch.Tensor | None:
    return t[0, 0] if (squeeze and t is not None) else t  # (1, 1, ...) → (...)


def default_scale(d: int, scale: float | None) -> float:
    return scale if scale is not None else 1.0 / math.sqrt(d)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax over keys where mask is True; rows with no allowed key get all zeros (not a uniform row)."""
    if mask is None:
        return scores.softmax(-1)
    probs = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(-1)
    return probs * mask.any(-1, keepdim=True)


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit masked attention on (B, H, N, D): (out, probs)."""
    s = default_scale(q.shape[-1], scale)
    probs = masked_softmax((q @ k.transpose(-2, -1)) * s, mask)  # (B, H, Nq, Nk)
    return probs @ v, probs


def normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def make_generator(generator: torch.Generator | None, seed: int = 0) -> torch.Generator:
    """The caller's generator, or a fresh CPU one seeded with `seed` (never the global RNG)."""
    return generator if generator is not None else torch.Generator().manual_seed(seed)
