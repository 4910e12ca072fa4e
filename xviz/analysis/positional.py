"""Positional encodings, analysed: similarity of positions, offset curves, the M_k property, learned tables of
loaded models, RoPE's offset-only scores, ALiBi, and what happens beyond the trained length. Pure torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from xviz.errors import InputError
from xviz.layers import pos_embed

KINDS = ["sinusoidal", "learned (text model)", "2-D sin-cos", "RoPE", "ALiBi"]


def similarity(pe: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """(P, C) → (P, P): dot products PE(i)·PE(j), or their cosine."""
    pe = pe.double()
    if kind == "cosine":
        pe = pe / pe.norm(dim=1, keepdim=True).clamp(min=1e-12)
    elif kind != "dot":
        raise InputError(f"similarity kind must be 'dot' or 'cosine', got {kind!r}")
    return (pe @ pe.T).float()


@dataclass
class OffsetCurve:
    offsets: torch.Tensor  # (K,)  k = 0 … K−1
    mean: torch.Tensor  # (K,)  mean over p of S[p, p+k]
    std: torch.Tensor  # (K,)  spread over p: 0 when the similarity depends on the offset only
    lo: torch.Tensor  # (K,)  min over p
    hi: torch.Tensor  # (K,)  max over p


def offset_curve(sim: torch.Tensor, max_offset: int | None = None) -> OffsetCurve:
    """Statistics of each diagonal S[p, p+k] of a (P, P) matrix, k = 0 … max_offset."""
    K = min(sim.shape[0], (max_offset or sim.shape[0] - 1) + 1)
    diags = [torch.diagonal(sim, k).double() for k in range(K)]
    stat = lambda f: torch.tensor([float(f(d)) for d in diags])  # noqa: E731
    std = stat(lambda d: d.std(unbiased=False) if len(d) > 1 else 0.0)
    return OffsetCurve(torch.arange(K), stat(torch.mean), std, stat(torch.min), stat(torch.max))


def sinusoidal_dot_formula(offsets: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """PE(p)·PE(p+k) = Σ_i cos(ω_i k) (independent of p; = dim/2 at k = 0)."""
    return (offsets.double()[:, None] * pos_embed.frequencies(dim, base)[None]).cos().sum(1)


@dataclass
class TransformCheck:
    k: int
    M: torch.Tensor  # (C, C)
    error: torch.Tensor  # (P,) max |M_k·PE(p) − PE(p+k)| per position p
    max_error: float


def transform_check(num_pos: int, dim: int, k: int, base: float = 10000.0) -> TransformCheck:
    """Apply M_k to every PE(p), p < num_pos, and compare with PE(p+k) computed directly."""
    pe = pos_embed.sinusoidal(num_pos + k, dim, base)  # (P+k, C)
    M = pos_embed.transform_matrix(k, dim, base)
    shifted = pe[:num_pos] @ M.T  # row form of M·PE(p): (P, C)
    err = (shifted - pe[k : k + num_pos]).abs().amax(dim=1)
    return TransformCheck(k, M, err, float(err.max()))


# ---- learned tables of loaded models ---------------------------------------------------------------------------


@dataclass
class LearnedTable:
    name: str  # parameter name in the model
    table: torch.Tensor  # (P, C), prefix rows (CLS, registers) removed
    grid: tuple[int, int] | None  # (h, w) for patch grids, None for 1-D text positions
    prefix: int = 0  # rows removed in front (CLS …)


_TABLE_NAMES = ("pos_embed", "position_embeddings", "pos_embedding", "position", "wpe", "embed_positions")


def find_position_table(model: nn.Module) -> LearnedTable | None:
    """The learned position table of a loaded model, or None when it has none (fixed or relative encodings).

    Text (BERT): `embed.position.weight` (P, C). Vision: a parameter named `pos_embed` (or position_embeddings,
    pos_embedding, position.weight) of shape (1, [1+]h·w, C) or (h·w, C); a square patch grid is inferred and
    CLS-like prefix rows are split off. Buffers (fixed tables such as MAE's sin-cos) are not learned: skipped."""
    for name, p in model.named_parameters():
        parts = name.split(".")
        named = parts[-1] in _TABLE_NAMES or (parts[-1] == "weight" and len(parts) > 1 and parts[-2] in _TABLE_NAMES)
        if named and p.dim() in (2, 3):
            t = p.detach().float().cpu().reshape(-1, p.shape[-1])  # (1, N, C) → (N, C)
            if model.kind in ("text", "lm"):
                return LearnedTable(name, t, None)
            for prefix in (0, 1, 2, 5):  # none, CLS, CLS+dist, CLS+4 registers
                side = math.isqrt(t.shape[0] - prefix)
                if side * side == t.shape[0] - prefix:
                    return LearnedTable(name, t[prefix:], (side, side), prefix)
            return LearnedTable(name, t, None)
    return None


def grid_similarity(table: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Cosine similarity of each patch position to all others (ViT paper, Fig. 7). (h·w, C) → (h, w, h, w)."""
    h, w = grid
    return similarity(table, "cosine").reshape(h, w, h, w)  # (h·w, h·w) → (h, w, h, w)


def grid_mosaic(sim4: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Tile the (h, w, h, w) similarities as in the ViT figure: tile (r, c) is the similarity map of patch (r, c).
    Every `stride`-th patch gets a tile; tiles are separated by a one-pixel NaN gap. → (rows·(h+1), cols·(w+1))."""
    h, w = sim4.shape[:2]
    sel = sim4[::stride, ::stride]  # (r, c, h, w)
    r, c = sel.shape[:2]
    pad = torch.full((r, c, h + 1, w + 1), float("nan"))
    pad[:, :, :h, :w] = sel
    return pad.permute(0, 2, 1, 3).reshape(r * (h + 1), c * (w + 1))  # (r, h+1, c, w+1) → image


# ---- RoPE and ALiBi --------------------------------------------------------------------------------------------


@dataclass
class RopeDemo:
    scores: torch.Tensor  # (n, n) ⟨R_m q, R_n k⟩ for fixed q, k placed at every position
    offset_spread: float  # max over offsets of (max − min) along the diagonal: ~1e-6
    curve: torch.Tensor  # (2n−1,) score as a function of the offset n − m = −(n−1) … n−1


def rope_demo(n: int, dim: int, base: float = 10000.0, seed: int = 0, interleaved: bool = True) -> RopeDemo:
    """Place one random query q and key k at every position and score all pairs: the matrix is Toeplitz."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, dim, generator=g, dtype=torch.float64)
    pos = torch.arange(n)
    S = pos_embed.rope_scores(q, k, pos, pos, base, interleaved)  # (n, n), float64
    spread = max(float(torch.diagonal(S, o).max() - torch.diagonal(S, o).min()) for o in range(-n + 1, n))
    curve = torch.stack([torch.diagonal(S, o)[0] for o in range(-n + 1, n)])
    return RopeDemo(S.float(), spread, curve.float())


def alibi(num_heads: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(slopes (H,), bias (H, n, n))."""
    return pos_embed.alibi_slopes(num_heads), pos_embed.alibi_bias(num_heads, n)


def find_relative_bias_table(model: nn.Module) -> tuple[str, torch.Tensor, int] | None:
    """The first Swin-style relative-position bias table ((2M−1)², heads) of a model: (name, table, M), or None."""
    for name, p in model.named_parameters():
        if name.split(".")[-1] in ("table", "relative_position_bias_table") and p.dim() == 2:
            side = math.isqrt(p.shape[0])
            if side * side == p.shape[0] and side % 2 == 1:
                return name, p.detach().float().cpu(), (side + 1) // 2
    return None


# ---- any kind as a position × position matrix (for the side-by-side view) --------------------------------------


def position_matrix(
    kind: str, n: int, dim: int, table: torch.Tensor | None = None, head: int = 0, num_heads: int = 8
) -> torch.Tensor:
    """How strongly position i relates to position j under each kind, as an (n, n) matrix: cosine similarity of
    the encodings (sinusoidal, learned, 2-D sin-cos on a √n×√n grid), RoPE scores of one random q/k pair, or
    ALiBi's additive bias of one head."""
    if kind == "sinusoidal":
        return similarity(pos_embed.sinusoidal(n, dim))
    if kind == "learned (text model)":
        if table is None:
            raise InputError("No learned table is loaded.")
        return similarity(table[:n])
    if kind == "2-D sin-cos":
        side = max(1, math.isqrt(n))
        return similarity(pos_embed.sincos_2d(side, side, dim - dim % 4 or 4))
    if kind == "RoPE":
        return rope_demo(n, dim).scores
    if kind == "ALiBi":
        return pos_embed.alibi_bias(num_heads, n)[head % num_heads]
    raise InputError(f"Unknown kind {kind!r}; choose one of {KINDS}.")


# ---- beyond the trained length ---------------------------------------------------------------------------------


def unseen_angle_fraction(total: int, trained: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Fraction of the dim/2 frequency pairs (sinusoidal and RoPE alike) whose angle p·ω_i (mod 2π) never occurred
    at a trained position p < trained. 0 inside the trained range; beyond it the slow pairs (wavelength longer
    than the trained length) turn novel — why RoPE models break past their context. (total,)"""
    ang = pos_embed.rope_angles(torch.arange(total), dim, base)  # (T, dim/2)
    w = pos_embed.frequencies(dim, base)  # (dim/2,)
    seen_max = w * (trained - 1)  # largest angle seen per pair
    wrapped = seen_max >= 2 * math.pi  # fast pairs: the whole circle was seen
    unseen = (ang.remainder(2 * math.pi) > seen_max[None] + 1e-9) & ~wrapped[None]
    return unseen.double().mean(1).float()
