"""Patches and MAE-style masking: pure functions, torch in / torch out.

Conventions (docs/ARCHITECTURE.md; He et al. 2021, MAE): patches are numbered row-major; a patch vector is channel-last,
(p, p, C) flattened, as in MAE. Every strategy returns `(ids_keep, is_masked, ids_restore)`:
  ids_keep (B, K) long: the kept patches, in shuffle order (smallest noise first);
  is_masked (B, N) bool: True = hidden from the encoder, in the original patch order;
  ids_restore (B, N) long: argsort of the shuffle, so `gather(shuffled, ids_restore)` is the original order.
K = int(N·(1 − ratio)) for every strategy. Randomness comes only from the given torch.Generator.
"""

from __future__ import annotations

import math

import torch

STRATEGIES = ("random", "block", "grid")


def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) → (B, N, p²·C) with N = (H/p)·(W/p) row-major, each patch (p, p, C) flattened."""
    B, C, H, W = imgs.shape
    if H % p or W % p:
        raise ValueError(f"image size {H}×{W} is not a multiple of the patch size {p}")
    h, w = H // p, W // p
    x = imgs.reshape(B, C, h, p, w, p)  # (B, C, h, p, w, p)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, h, w, p, p, C)
    return x.reshape(B, h * w, p * p * C)  # (B, N, p²·C)


def unpatchify(x: torch.Tensor, p: int, h: int, w: int, channels: int = 3) -> torch.Tensor:
    """Inverse of patchify: (B, N, p²·C) with N = h·w patches → (B, C, h·p, w·p)."""
    B, N, D = x.shape
    if N != h * w or D != p * p * channels:
        raise ValueError(f"got {N} patches of {D} values; expected {h}×{w} patches of {p}·{p}·{channels}")
    x = x.reshape(B, h, w, p, p, channels)  # (B, h, w, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, h, p, w, p)
    return x.reshape(B, channels, h * p, w * p)  # (B, C, H, W)


def num_kept(N: int, ratio: float) -> int:
    """MAE's count of visible patches: int(N·(1 − ratio))."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
    return int(N * (1 - ratio))


def masking_from_noise(noise: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE semantics: ids_shuffle = argsort(noise) ascending, the `keep` smallest are visible."""
    B, N = noise.shape
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, N) ascending: small noise first
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, N) inverse permutation
    ids_keep = ids_shuffle[:, :keep]  # (B, K)
    is_masked = ids_restore >= keep  # (B, N) True where the rank is past the kept ones
    return ids_keep, is_masked, ids_restore


def _uniform(B: int, N: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(B, N, generator=generator)


def random_masking(
    B: int,
    N: int,
    ratio: float,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
    device: torch.device | str | None = None,
):
    """MAE random masking (He et al. 2021 §3): noise ~ U(0, 1) per patch, keep the int(N·(1−ratio)) smallest.
    Pass `noise` (B, N) to reproduce a run exactly (e.g. the same noise given to HF ViTMAE)."""
    keep = num_kept(N, ratio)
    if noise is None:
        noise = _uniform(B, N, generator)
    elif noise.shape != (B, N):
        raise ValueError(f"noise must have shape {(B, N)}, got {tuple(noise.shape)}")
    out = masking_from_noise(noise, keep)
    return tuple(t.to(device) for t in out) if device is not None else out


def _grid_shape(N: int, grid_hw: tuple[int, int] | None) -> tuple[int, int]:
    if grid_hw is None:
        side = math.isqrt(N)
        if side * side != N:
            raise ValueError(f"{N} patches do not form a square grid; pass grid_hw=(rows, cols)")
        return side, side
    if grid_hw[0] * grid_hw[1] != N:
        raise ValueError(f"grid {grid_hw} does not hold {N} patches")
    return grid_hw


def _randint(lo: int, hi: int, g: torch.Generator | None) -> int:
    """Uniform integer in [lo, hi]."""
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def _place_block(taken: torch.Tensor, budget: int, min_area: int, aspect: float, g) -> torch.Tensor | None:
    """One BEiT-style block (Bao et al. 2021, Alg. 1): area s ~ U[min_area, budget], log aspect r ~ U[log a,
    −log a], size √(s·r) × √(s/r) at a random place; accepted if it adds 1..budget new patches."""
    gh, gw = taken.shape
    for _ in range(10):
        area = min_area + float(torch.rand(1, generator=g)) * max(budget - min_area, 0)
        log_r = math.log(aspect) + float(torch.rand(1, generator=g)) * -2 * math.log(aspect)
        bh = int(round(math.sqrt(area * math.exp(log_r))))
        bw = int(round(math.sqrt(area / math.exp(log_r))))
        if not (0 < bh <= gh and 0 < bw <= gw):
            continue
        top, left = _randint(0, gh - bh, g), _randint(0, gw - bw, g)
        block = torch.zeros_like(taken)
        block[top : top + bh, left : left + bw] = True
        new = int((block & ~taken).sum())
        if 0 < new <= budget:
            return block
    return None


def _block_noise(gh: int, gw: int, n_mask: int, g, min_area: int, aspect: float) -> torch.Tensor:
    """Noise (N,) whose largest n_mask values form blocks: blocks placed earlier get larger noise, so if the
    count must be cut to exactly n_mask the last block is the one trimmed."""
    taken = torch.zeros(gh, gw, dtype=torch.bool)
    noise = torch.rand(gh, gw, generator=g)  # unmasked: [0, 1)
    order = 0
    while int(taken.sum()) < n_mask:
        budget = n_mask - int(taken.sum())
        block = _place_block(taken, budget, min(min_area, budget), aspect, g)
        if block is None:
            break  # no block fits any more: the remainder is filled by the largest noise among the rest
        fresh = block & ~taken
        noise[fresh] = 1e6 - order + torch.rand(int(fresh.sum()), generator=g)
        taken |= block
        order += 1
    return noise.reshape(-1)  # (N,) row-major


def block_masking(
    B: int,
    N: int,
    ratio: float,
    generator: torch.Generator | None = None,
    grid_hw: tuple[int, int] | None = None,
    min_area: int = 4,
    aspect: float = 0.3,
    device: torch.device | str | None = None,
):
    """Blockwise masking (BEiT, Bao et al. 2021): rectangles of random area/aspect until the ratio is reached.
    Exactly int(N·(1−ratio)) patches stay visible."""
    gh, gw = _grid_shape(N, grid_hw)
    keep = num_kept(N, ratio)
    noise = torch.stack([_block_noise(gh, gw, N - keep, generator, min_area, aspect) for _ in range(B)])
    return random_masking(B, N, ratio, noise=noise, device=device)


def bayer_matrix(n: int) -> torch.Tensor:
    """Ordered-dithering index matrix (n × n, n a power of 2): thresholding it at k/n² keeps k evenly spread
    cells per tile — a 2-spaced grid at 1/4, a checkerboard at 1/2."""
    m = torch.zeros(1, 1, dtype=torch.long)
    while m.shape[0] < n:
        m = torch.cat([torch.cat([4 * m, 4 * m + 2], 1), torch.cat([4 * m + 3, 4 * m + 1], 1)], 0)
    return m


def grid_masking(
    B: int,
    N: int,
    ratio: float,
    generator: torch.Generator | None = None,
    grid_hw: tuple[int, int] | None = None,
    tile: int = 8,
    device: torch.device | str | None = None,
):
    """Regular-grid masking (MAE Fig. 6: keep one patch of every 2×2 at ratio 0.75). For any ratio the kept
    patches follow an ordered-dither (Bayer) pattern with a seeded offset; ties broken by seeded noise."""
    gh, gw = _grid_shape(N, grid_hw)
    bayer = bayer_matrix(tile).float()
    noises = []
    for _ in range(B):
        dr, dc = _randint(0, tile - 1, generator), _randint(0, tile - 1, generator)
        rows = (torch.arange(gh) + dr) % tile
        cols = (torch.arange(gw) + dc) % tile
        level = bayer[rows[:, None], cols[None, :]]  # (gh, gw)
        noises.append((level + 0.5 * torch.rand(gh, gw, generator=generator)).reshape(-1))  # (N,)
    return random_masking(B, N, ratio, noise=torch.stack(noises), device=device)


def make_mask(
    strategy: str,
    B: int,
    N: int,
    ratio: float,
    generator: torch.Generator | None = None,
    grid_hw: tuple[int, int] | None = None,
    device: torch.device | str | None = None,
):
    """Dispatch by name: "random" | "block" | "grid"."""
    if strategy == "random":
        return random_masking(B, N, ratio, generator, device=device)
    if strategy == "block":
        return block_masking(B, N, ratio, generator, grid_hw=grid_hw, device=device)
    if strategy == "grid":
        return grid_masking(B, N, ratio, generator, grid_hw=grid_hw, device=device)
    raise ValueError(f"unknown masking strategy {strategy!r}; known: {', '.join(STRATEGIES)}")


def patch_mask_to_pixels(is_masked: torch.Tensor, p: int, grid_hw: tuple[int, int]) -> torch.Tensor:
    """(B, N) bool patch mask → (B, 1, H, W) float pixel mask (1 = hidden), for x·(1 − m) + pred·m."""
    B = is_masked.shape[0]
    gh, gw = grid_hw
    m = is_masked.float().reshape(B, 1, gh, 1, gw, 1)  # (B, 1, h, 1, w, 1)
    return m.expand(B, 1, gh, p, gw, p).reshape(B, 1, gh * p, gw * p)  # (B, 1, H, W)
