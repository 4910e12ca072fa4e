"""Swin's windows (Liu et al. 2021): partition, cyclic shift, the SW-MSA mask and the relative position index.

Conventions (docs/ARCHITECTURE.md): maps are (B, H, W, C); masks are bool, True = may attend. The shifted-window mask is
the official construction (region labels from three slices per axis, pairs with different labels forbidden),
computed after the cyclic shift `torch.roll(x, (-s, -s), dims=(1, 2))`.
"""

from __future__ import annotations

import torch

from xviz.errors import InputError


def window_config(H: int, W: int, M: int, shift: int) -> tuple[int, int]:
    """(window, shift) actually used on an H×W map. As in the official code: if the map is not larger than the
    window (min(H, W) <= M), the window becomes the map's shorter side and the shift is 0."""
    if M < 1 or H < 1 or W < 1:
        raise InputError(f"Window size and map size must be positive (got M={M}, H={H}, W={W}).")
    if not 0 <= shift < M:
        raise InputError(f"The shift must satisfy 0 <= shift < M (got shift={shift}, M={M}).")
    if min(H, W) <= M:
        return min(H, W), 0
    return M, shift


def padded_size(H: int, W: int, M: int) -> tuple[int, int]:
    """H, W rounded up to multiples of M (right/bottom zero padding, as HF Swin pads)."""
    return H + (-H) % M, W + (-W) % M


def _check_divisible(H: int, W: int, M: int) -> None:
    if H % M or W % M:
        raise InputError(
            f"A {H}×{W} map does not split into {M}×{M} windows; pad it to "
            f"{padded_size(H, W, M)} first (xviz.layers.windows.padded_size)."
        )


def window_partition(x: torch.Tensor, M: int) -> torch.Tensor:
    """(B, H, W, C) → (B·nW, M, M, C), windows in row-major order within each image."""
    B, H, W, C = x.shape
    _check_divisible(H, W, M)
    x = x.view(B, H // M, M, W // M, M, C)  # (B, nH, M, nWw, M, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, M, M, C)  # (B·nH·nWw, M, M, C)


def window_reverse(windows: torch.Tensor, M: int, H: int, W: int) -> torch.Tensor:
    """(B·nW, M, M, C) → (B, H, W, C); inverse of window_partition."""
    _check_divisible(H, W, M)
    C = windows.shape[-1]
    x = windows.view(-1, H // M, W // M, M, M, C)  # (B, nH, nWw, M, M, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, H, W, C)  # (B, H, W, C)


def cyclic_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Roll a (B, H, W, ...) map by (−s, −s): the top-left s rows/columns move to the bottom/right."""
    return torch.roll(x, shifts=(-shift, -shift), dims=(1, 2)) if shift else x


def cyclic_unshift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Inverse of cyclic_shift: roll by (+s, +s)."""
    return torch.roll(x, shifts=(shift, shift), dims=(1, 2)) if shift else x


def _axis_regions(n: int, M: int, shift: int) -> torch.Tensor:
    """Region of each index along one axis: slices [0, n−M) → 0, [n−M, n−s) → 1, [n−s, n) → 2."""
    i = torch.arange(n)
    return (i >= n - M).long() + (i >= n - shift).long()


def region_labels(H: int, W: int, M: int, shift: int) -> torch.Tensor:
    """(H, W) long map of the 9 regions 0–8 (3·row region + column region) on the *rolled* map; all zeros when
    the (effective) shift is 0. Tokens from different regions are not neighbours in the image."""
    M, shift = window_config(H, W, M, shift)
    if shift == 0:
        return torch.zeros(H, W, dtype=torch.long)
    return _axis_regions(H, M, shift)[:, None] * 3 + _axis_regions(W, M, shift)[None, :]  # (H, W)


def shifted_window_mask(H: int, W: int, M: int, shift: int) -> torch.Tensor:
    """bool (nW, M², M²), True = may attend: tokens of one window attend to each other only when they carry
    the same region label (official Swin: mask == 0 where −100 is added elsewhere). With shift 0, all True.
    H, W must be multiples of the effective window (see window_config / padded_size)."""
    M_eff, _ = window_config(H, W, M, shift)
    labels = region_labels(H, W, M, shift)[None, :, :, None]  # (1, H, W, 1)
    lw = window_partition(labels, M_eff).reshape(-1, M_eff * M_eff)  # (nW, M²)
    return lw[:, :, None] == lw[:, None, :]  # (nW, M², M²)


def window_token_positions(H: int, W: int, M: int, shift: int) -> torch.Tensor:
    """(nW, M², 2) long: (row, col) in the *original* map of each token of each (shifted) window."""
    M, shift = window_config(H, W, M, shift)
    idx = torch.arange(H * W).view(1, H, W, 1)  # (1, H, W, 1) flat index of every token
    win = window_partition(cyclic_shift(idx, shift), M).reshape(-1, M * M)  # (nW, M²)
    return torch.stack([win // W, win % W], dim=-1)  # (nW, M², 2)


def window_groups(H: int, W: int, M: int, shift: int) -> torch.Tensor:
    """(H, W) long map in the original frame: tokens with equal ids may attend to each other in one layer
    (same window after the shift, and the same region label). Derived from the window partition and mask."""
    M, shift = window_config(H, W, M, shift)
    labels = region_labels(H, W, M, shift)[None, :, :, None]  # (1, H, W, 1)
    lw = window_partition(labels, M).reshape(-1, M * M)  # (nW, M²)
    ids = torch.arange(lw.shape[0])[:, None] * 9 + lw  # (nW, M²) window·9 + region
    rolled = window_reverse(ids.view(-1, M, M, 1), M, H, W)  # (1, H, W, 1) in the rolled frame
    return cyclic_unshift(rolled, shift)[0, :, :, 0]  # (H, W)


def relative_position_index(M: int, table_window: int | None = None) -> torch.Tensor:
    """(M², M²) long indices into Swin's ((2T−1)², heads) bias table, T = table_window (default M):
    index(i, j) = (Δrow + T − 1)·(2T − 1) + (Δcol + T − 1), Δ = coord_i − coord_j (Liu et al. 2021, §3.2).
    A window smaller than the table's (map smaller than M) uses the central part of the table."""
    T = table_window or M
    if T < M:
        raise InputError(f"A bias table for {T}×{T} windows cannot serve {M}×{M} windows.")
    rows, cols = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])  # (2, M²)
    delta = coords[:, :, None] - coords[:, None, :]  # (2, M², M²) coord_i − coord_j
    return (delta[0] + T - 1) * (2 * T - 1) + (delta[1] + T - 1)  # (M², M²)


def relative_position_bias(table: torch.Tensor, index: torch.Tensor, num_heads: int | None = None) -> torch.Tensor:
    """Gather the bias table ((2M−1)², heads) at index (N, N) → (heads, N, N), ready to add to the scores."""
    heads = table.shape[-1] if num_heads is None else num_heads
    if table.shape[-1] != heads:
        raise InputError(f"The bias table has {table.shape[-1]} heads, expected {heads}.")
    N = index.shape[0]
    bias = table[index.reshape(-1)].view(N, N, heads)  # (N, N, heads)
    return bias.permute(2, 0, 1).contiguous()  # (heads, N, N)
