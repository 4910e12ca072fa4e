"""Why attention divides by √d (Vaswani et al. 2017, §3.2.1, footnote 4): for q, k with independent zero-mean
components of variances σ_q², σ_k², q·k = Σ_{i<d} q_i k_i has mean 0 and variance d·σ_q²·σ_k² (a sum of d
independent products, each of variance σ_q²σ_k²). Unscaled scores grow like √d, the softmax saturates (one weight
→ 1, entropy → 0) and its Jacobian diag(p) − p·pᵀ → 0: gradients vanish. Dividing by √d keeps the variance at
σ_q²σ_k² whatever d. All randomness from a torch.Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DIMS = (4, 16, 64, 256, 1024)


@dataclass
class DotStats:
    dims: list[int]
    var_measured: list[float]  # Var(q·k) over samples
    var_predicted: list[float]  # d·Var(q)·Var(k)


@dataclass
class SoftmaxStats:
    dims: list[int]
    entropy: dict[str, list[float]]  # "unscaled" / "÷√d" → mean entropy of a row (nats)
    max_weight: dict[str, list[float]]  # mean of the largest weight in a row
    grad_norm: dict[str, list[float]]  # mean Frobenius norm of the softmax Jacobian diag(p) − p pᵀ
    n_keys: int


def dot_variance(dims=DIMS, samples: int = 4000, std_q: float = 1.0, std_k: float = 1.0, seed: int = 0) -> DotStats:
    g = torch.Generator().manual_seed(seed)
    meas, pred = [], []
    for d in dims:
        q = torch.randn(samples, d, generator=g) * std_q
        k = torch.randn(samples, d, generator=g) * std_k
        meas.append(float((q * k).sum(-1).var()))
        pred.append(d * std_q**2 * std_k**2)
    return DotStats(list(dims), meas, pred)


def softmax_jacobian_norm(p: torch.Tensor) -> torch.Tensor:
    """‖diag(p) − p pᵀ‖_F per row of p (..., N) → (...). ∂softmax(s)/∂s = diag(p) − p pᵀ; its squared norm is
    Σ_i (p_i − p_i²)² + Σ_{i≠j} p_i² p_j² = Σ p² − 2 Σ p³ + (Σ p²)², O(N) a row (the matrix itself is N² a row)."""
    p2 = p.double().pow(2).sum(-1)
    p3 = p.double().pow(3).sum(-1)
    return (p2 - 2 * p3 + p2 * p2).clamp(min=0).sqrt().to(p.dtype)


def row_stats(scores: torch.Tensor) -> tuple[float, float, float]:
    """Scores (..., N) → mean entropy (nats), mean max weight, mean Jacobian norm of softmax over the last axis."""
    p = scores.softmax(-1)
    ent = -(p * p.clamp_min(1e-30).log()).sum(-1)
    return float(ent.mean()), float(p.max(-1).values.mean()), float(softmax_jacobian_norm(p).mean())


def softmax_saturation(dims=DIMS, n_keys: int = 16, rows: int = 256, seed: int = 0) -> SoftmaxStats:
    """Random unit-variance q (rows, d) against n_keys random keys, with and without ÷√d."""
    g = torch.Generator().manual_seed(seed)
    ent, mx, gr = ({"unscaled": [], "÷√d": []} for _ in range(3))
    for d in dims:
        q = torch.randn(rows, d, generator=g)
        k = torch.randn(n_keys, d, generator=g)
        s = q @ k.T  # (rows, n_keys)
        for name, sc in (("unscaled", s), ("÷√d", s / math.sqrt(d))):
            e, m, j = row_stats(sc)
            ent[name].append(e)
            mx[name].append(m)
            gr[name].append(j)
    return SoftmaxStats(list(dims), ent, mx, gr, n_keys)


@dataclass
class RealHeadStats:
    d: int
    var_qk: float  # Var(q_i·k_j) over real token pairs
    var_pred: float  # d·Var(q)·Var(k) (as if components were independent)
    scaled: tuple[float, float, float]  # entropy, max weight, Jacobian norm with ÷√d (what the model does)
    unscaled: tuple[float, float, float]  # the same scores without ÷√d
    uniform_entropy: float  # log(N): the most spread a row can be


def real_head_stats(q: torch.Tensor, k: torch.Tensor, key_ok: torch.Tensor | None = None) -> RealHeadStats:
    """One head's recorded q, k (N, D) (real tokens only when key_ok (N,) is given)."""
    if key_ok is not None:
        q, k = q[key_ok], k[key_ok]
    d = q.shape[-1]
    raw = q @ k.T  # (N, N)
    return RealHeadStats(
        d,
        float(raw.var()),
        d * float(q.var()) * float(k.var()),
        row_stats(raw / math.sqrt(d)),
        row_stats(raw),
        math.log(raw.shape[-1]),
    )
