"""Positional encodings: pure functions, torch in / torch out."""

from __future__ import annotations

import torch

from xviz.layers.windows import relative_position_bias, relative_position_index


def sinusoidal(num_pos: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Vaswani et al. 2017 §3.5, interleaved: PE[p, 2i] = sin(p·ω_i), PE[p, 2i+1] = cos(p·ω_i),
    ω_i = base^(−2i/dim). Returns (num_pos, dim)."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    pos = torch.arange(num_pos, dtype=torch.float64)[:, None]  # (P, 1)
    omega = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim/2,)
    pe = torch.zeros(num_pos, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * omega)
    pe[:, 1::2] = torch.cos(pos * omega)
    return pe.float()


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """MAE layout: [sin | cos] concatenated, ω_j = 1 / 10000^(j / (dim/2)). pos (M,) → (M, dim)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.double()[:, None] * omega[None]  # (M, dim/2)
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(grid_h: int, grid_w: int, dim: int, cls_token: bool = False) -> torch.Tensor:
    """2-D sin-cos table in the official MAE layout: tokens row-major; the first dim/2 channels encode the
    **column** index, the second dim/2 the **row** (MAE's meshgrid puts w first). With cls_token a zero row is
    prepended. Returns (grid_h·grid_w [+1], dim)."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4, got {dim}")
    rows = torch.arange(grid_h).repeat_interleave(grid_w)  # row index of each token, row-major
    cols = torch.arange(grid_w).repeat(grid_h)  # column index of each token
    pe = torch.cat([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], dim=1).float()
    if cls_token:
        pe = torch.cat([torch.zeros(1, dim), pe], dim=0)
    return pe


def frequencies(dim: int, base: float = 10000.0) -> torch.Tensor:
    """ω_i = base^(−2i/dim) for i = 0 … dim/2 − 1 (float64), shared by `sinusoidal` and `rope`."""
    return base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)


def wavelengths(dim: int, base: float = 10000.0) -> torch.Tensor:
    """Wavelength (in positions) of every channel of `sinusoidal`: 2π/ω_i, each repeated for sin and cos. (dim,)"""
    return (2 * torch.pi / frequencies(dim, base)).repeat_interleave(2)


def transform_matrix(k: float, dim: int, base: float = 10000.0) -> torch.Tensor:
    """M_k with PE(p+k) = M_k · PE(p) for every p (column vectors, interleaved layout of `sinusoidal`).

    Block-diagonal 2×2 rotations [[cos ω_i k, sin ω_i k], [−sin ω_i k, cos ω_i k]] (Vaswani et al. §3.5),
    from sin(a+b) = sin a cos b + cos a sin b and cos(a+b) = cos a cos b − sin a sin b. Returns (dim, dim).
    """
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    ang = frequencies(dim, base) * k  # (dim/2,)
    c, s = ang.cos(), ang.sin()
    blocks = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)  # (dim/2, 2, 2)
    return torch.block_diag(*blocks).float()


# ---- RoPE (Su et al. 2021, RoFormer eq. 34) -------------------------------------------------------------------


def rope_angles(
    positions: torch.Tensor, dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """θ_i·m for every position m and pair i, θ_i = base^(−2i/dim). positions (N,) → (N, dim/2).

    dtype=torch.float32 computes them as Hugging Face's rotary embedding does (1 / base^(2i/dim) and the product in
    float32), so a recomputation matches a model's own q and k bit for bit; the default float64 is exact."""
    if dtype == torch.float64:
        return positions.double()[:, None] * frequencies(dim, base)[None]
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).to(dtype) / dim))  # (dim/2,)
    return positions.to(dtype)[:, None] * inv_freq[None]


def rope(
    x: torch.Tensor,
    positions: torch.Tensor | None = None,
    base: float = 10000.0,
    interleaved: bool = True,
    angle_dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Rotate q or k by their positions: x (..., N, D) → same shape; apply to q AND k, never to v.

    interleaved=True (default, RoFormer paper): pairs are adjacent channels (x[2i], x[2i+1]).
    interleaved=False (GPT-NeoX / HF Llama "rotate_half"): pairs are (x[i], x[i + D/2]).
    Each pair is rotated by the angle θ_i·m: (a, b) → (a cos − b sin, a sin + b cos), so that
    ⟨R_m q, R_n k⟩ = ⟨q, R_{n−m} k⟩ depends on the positions only through n − m.
    """
    N, D = x.shape[-2], x.shape[-1]
    if D % 2:
        raise ValueError(f"head dim must be even for RoPE, got {D}")
    if positions is None:
        positions = torch.arange(N, device=x.device)
    ang = rope_angles(positions.cpu(), D, base, angle_dtype).to(device=x.device)  # (N, D/2)
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]  # (..., N, D/2) each
        return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).flatten(-2)  # (..., N, D/2, 2) → (..., N, D)
    a, b = x[..., : D // 2], x[..., D // 2 :]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


def rope_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    positions_q: torch.Tensor | None = None,
    positions_k: torch.Tensor | None = None,
    base: float = 10000.0,
    interleaved: bool = True,
) -> torch.Tensor:
    """Scores ⟨rope(q)_m, rope(k)_n⟩ (no 1/√D). q (..., Nq, D), k (..., Nk, D) → (..., Nq, Nk).

    A single vector (D,) is broadcast to every position: then the result is a Toeplitz matrix — it depends
    only on the offset n − m (the relative property)."""
    if q.dim() == 1:
        q = q.expand(len(positions_q) if positions_q is not None else 1, -1)
    if k.dim() == 1:
        k = k.expand(len(positions_k) if positions_k is not None else 1, -1)
    rq = rope(q, positions_q, base, interleaved)
    rk = rope(k, positions_k, base, interleaved)
    return rq @ rk.transpose(-2, -1)


# ---- ALiBi (Press et al. 2022) --------------------------------------------------------------------------------


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Head slopes m_h: the geometric sequence starting at 2^(−8/n) with ratio 2^(−8/n) (8 heads: 2^-1 … 2^-8).
    Not a power of 2: the slopes of the closest smaller power of 2, then every other slope of the next power
    of 2 (the paper's reference code). (H,)"""
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")

    def pow2(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    closest = 2 ** (num_heads.bit_length() - 1)
    slopes = pow2(closest)
    if closest < num_heads:
        slopes += pow2(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(num_heads: int, n: int, n_k: int | None = None) -> torch.Tensor:
    """Additive bias −m_h·|i − j| → (H, n, n_k). For a causal LM (the paper's setting) combine it with a causal
    mask; on the allowed entries (j ≤ i) it equals the paper's −m_h·(i − j). Add it to the scores before softmax."""
    n_k = n if n_k is None else n_k
    dist = (torch.arange(n)[:, None] - torch.arange(n_k)[None]).abs().float()  # (n, n_k)
    return -alibi_slopes(num_heads)[:, None, None] * dist[None]


# ---- Swin relative position bias (Liu et al. 2021) ------------------------------------------------------------


def swin_relative_bias(table: torch.Tensor, window: int) -> torch.Tensor:
    """Gather Swin's ((2M−1)², H) bias table into the (H, M², M²) bias added to each window's scores.
    Delegates to xviz.layers.windows (relative_position_index / relative_position_bias)."""

    if table.shape[0] != (2 * window - 1) ** 2:
        raise ValueError(f"table has {table.shape[0]} rows; window {window} needs {(2 * window - 1) ** 2}")
    return relative_position_bias(table, relative_position_index(window))
