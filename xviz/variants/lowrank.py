"""Approximations that never form exact softmax(QKᵀ): Linformer, Performer (FAVOR+), Synthesizer.

`attn` is the effective N × N matrix A with out = A·V (Linformer: P̄·F, Performer: D⁻¹·φ(Q)·φ(K)ᵀ,
Synthesizer: its synthetic softmax).
"""

from __future__ import annotations

import math

import torch

from xviz.layers import masks
from xviz.variants._common import default_scale, from_4d, make_generator, masked_softmax, to_4d


# ---- Linformer (Wang et al. 2020) -----------------------------------------------------------------------------
def projection_matrix(k: int, n: int, kind: str = "gaussian", generator: torch.Generator | None = None) -> torch.Tensor:
    """E ∈ R^{k×n}. 'gaussian': entries N(0, 1/k) (the JL projection of the paper's analysis; learned in
    practice); 'pool': mean of k contiguous segments (a fixed, interpretable projection)."""
    if not 1 <= k:
        raise ValueError(f"the projected length k must be ≥ 1, got {k}")
    if kind == "gaussian":
        return torch.randn(k, n, generator=generator) / math.sqrt(k)
    if kind == "pool":
        seg = torch.arange(n) * k // n  # token → segment
        E = torch.nn.functional.one_hot(seg, k).T.float()  # (k, n)
        return E / E.sum(1, keepdim=True).clamp_min(1)
    raise ValueError(f"unknown projection kind {kind!r} (gaussian or pool)")


def linformer(
    q,
    k,
    v,
    proj_dim: int = 16,
    E: torch.Tensor | None = None,
    F: torch.Tensor | None = None,
    projection: str = "gaussian",
    scale: float | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
):
    """softmax(Q·(E·K)ᵀ/√d)·(F·V) with E, F ∈ R^{k×n} (Wang et al. 2020, eq. 7). Unless given, E and F are drawn
    independently (`projection`). attn = P̄·F, the effective (N, N) matrix: out = attn·V. Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n, d = k.shape[-2:]
    g = make_generator(generator, seed)
    E = (E if E is not None else projection_matrix(proj_dim, n, projection, g)).to(k)  # (k, N)
    F = (F if F is not None else projection_matrix(proj_dim, n, projection, g)).to(v)
    kp, vp = E @ k, F @ v  # (B, H, k, D)
    pbar = ((q @ kp.transpose(-2, -1)) * default_scale(d, scale)).softmax(-1)  # (B, H, N, k)
    return from_4d(pbar @ vp, sq), from_4d(pbar @ F, sq)


# ---- Performer FAVOR+ (Choromanski et al. 2021) ----------------------------------------------------------------
def random_features(m: int, d: int, orthogonal: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """ω (m, d): iid N(0, I) rows, or orthogonal random features — blocks of d orthonormal rows (QR of a
    Gaussian matrix) with row norms redrawn from the chi distribution (norms of iid Gaussian d-vectors)."""
    if not orthogonal:
        return torch.randn(m, d, generator=generator)
    blocks = []
    for _ in range(math.ceil(m / d)):
        Q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator))  # columns orthonormal
        blocks.append(Q.T)
    norms = torch.randn(m, d, generator=generator).norm(dim=1, keepdim=True)  # (m, 1) ~ chi_d
    return torch.cat(blocks)[:m] * norms


def favor_features(x: torch.Tensor, omega: torch.Tensor, stabilizer: str | None = None) -> torch.Tensor:
    """φ(x) = exp(ωᵀx − ‖x‖²/2)/√m (positive features), x already scaled by d^(−1/4). (..., N, m)

    stabilizer 'row' subtracts each row's max, 'all' the max over the sequence: constant factors that cancel in
    Performer's D⁻¹ normalisation (rows for queries, one per head for keys) and avoid overflow."""
    proj = x @ omega.T.to(x)  # (..., N, m)
    logits = proj - (x * x).sum(-1, keepdim=True) / 2
    if stabilizer == "row":
        logits = logits - logits.amax(-1, keepdim=True)
    elif stabilizer == "all":
        logits = logits - logits.amax((-1, -2), keepdim=True)
    return logits.exp() / math.sqrt(omega.shape[0])


def softmax_kernel_estimate(x: torch.Tensor, y: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
    """Unbiased FAVOR+ estimate of SM(x, y) = exp(xᵀy): φ(x)ᵀφ(y). x (Nx, d), y (Ny, d) → (Nx, Ny)."""
    return favor_features(x, omega) @ favor_features(y, omega).T


def performer(
    q,
    k,
    v,
    m: int = 64,
    orthogonal: bool = True,
    omega: torch.Tensor | None = None,
    causal: bool = False,
    generator: torch.Generator | None = None,
    seed: int = 0,
):
    """FAVOR+: q, k scaled by d^(−1/4); out = D⁻¹·φ(Q)·(φ(K)ᵀ·V), D = diag(φ(Q)·φ(K)ᵀ·1). attn = D⁻¹·φ(Q)·φ(K)ᵀ,
    always positive, rows sum to 1. causal masks the kernel matrix (the prefix-sum form gives the same).
    Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n, d = q.shape[-2:]
    omega = omega if omega is not None else random_features(m, d, orthogonal, make_generator(generator, seed))
    pq = favor_features(q * d**-0.25, omega, "row")  # (B, H, N, m)
    pk = favor_features(k * d**-0.25, omega, "all")
    if causal:
        kern = (pq @ pk.transpose(-2, -1)) * masks.causal(n, device=q.device)  # (B, H, N, N)
        attn = kern / kern.sum(-1, keepdim=True)
        return from_4d(attn @ v, sq), from_4d(attn, sq)
    denom = pq @ pk.sum(-2)[..., None]  # (B, H, N, 1)
    out = (pq @ (pk.transpose(-2, -1) @ v)) / denom  # linear in N: (m, D) summary
    attn = (pq @ pk.transpose(-2, -1)) / denom
    return from_4d(out, sq), from_4d(attn, sq)


# ---- Synthesizer (Tay et al. 2021) -----------------------------------------------------------------------------
def synthesizer(
    q,
    k,
    v,
    kind: str = "random",
    x: torch.Tensor | None = None,
    hidden: int | None = None,
    causal: bool = False,
    generator: torch.Generator | None = None,
    seed: int = 0,
):
    """Synthetic attention, untrained (random init, seeded): 'dense' B_i = F₂(ReLU(F₁(x_i))) ∈ R^N from each
    token alone (x defaults to the queries), no token–token dot products; 'random' R ∈ R^{N×N}, input-independent.
    attn = softmax(B or R); out = attn·V. Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n, d = q.shape[-2:]
    g = make_generator(generator, seed)
    if kind == "random":
        logits = torch.randn(n, n, generator=g).to(v).expand(*v.shape[:-2], n, n)  # (B, H, N, N)
    elif kind == "dense":
        x = q if x is None else (x[None, None] if x.dim() == 2 else x)
        h = hidden or x.shape[-1]
        W1 = torch.randn(x.shape[-1], h, generator=g).to(x) / math.sqrt(x.shape[-1])  # F₁: d → h
        W2 = torch.randn(h, n, generator=g).to(x) / math.sqrt(h)  # F₂: h → ℓ = N
        logits = torch.relu(x @ W1) @ W2  # (B, H, N, N)
    else:
        raise ValueError(f"unknown synthesizer kind {kind!r} (dense or random)")
    attn = masked_softmax(logits, masks.causal(n, device=v.device) if causal else None)
    return from_4d(attn @ v, sq), from_4d(attn, sq)
