"""Sparse attention patterns as boolean (N, N) masks: True = query i may attend to key j (the one mask convention,
docs/ARCHITECTURE.md).

Definitions follow the papers cited at each function; random patterns take a torch.Generator.
Everything is vectorised over index grids; tests compare each mask with a loop written from its definition.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "sliding_window",
    "dilated",
    "strided",
    "global_tokens",
    "longformer",
    "bigbird",
    "bigbird_random_blocks",
    "sparse_fixed",
    "sparse_strided",
    "axial",
    "axial_grid",
    "density",
]


def _offsets(n: int, device=None) -> torch.Tensor:
    """rel[i, j] = i − j (query minus key position), int32 to keep big masks light. (n, n)"""
    i = torch.arange(n, dtype=torch.int32, device=device)
    return i[:, None] - i[None, :]


def _check(n: int, **positive: int) -> None:
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    for name, val in positive.items():
        if val < 1:
            raise ValueError(f"{name} must be ≥ 1, got {val}")


def sliding_window(n: int, w: int, causal: bool = False, device=None) -> torch.Tensor:
    """Longformer window of width w: |i − j| ≤ w/2 (w/2 keys on each side plus the token itself).
    causal=True keeps the left half of the same window: 0 ≤ i − j ≤ w/2. `device`: build it there."""
    _check(n, w=w)
    rel = _offsets(n, device)
    if causal:
        return (rel >= 0) & (rel <= w // 2)
    return rel.abs() <= w // 2


def dilated(n: int, w: int, d: int) -> torch.Tensor:
    """Longformer dilated window (dilation d): |i − j| ≤ d·w/2 and (i − j) mod d = 0 (d = 1: sliding_window)."""
    _check(n, w=w, d=d)
    rel = _offsets(n)
    return (rel.abs() <= d * (w // 2)) & (rel % d == 0)


def strided(n: int, stride: int, causal: bool = False) -> torch.Tensor:
    """Every stride-th key counted from the query: (i − j) mod stride = 0; causal=True adds j ≤ i."""
    _check(n, stride=stride)
    rel = _offsets(n)
    m = rel % stride == 0
    return m & (rel >= 0) if causal else m


def global_tokens(n: int, idx) -> torch.Tensor:
    """Global tokens attend to every key and every query attends to them (rows and columns idx)."""
    _check(n)
    idx = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(list(idx), dtype=torch.long)
    idx = idx.long().reshape(-1)  # (G,)
    if idx.numel() and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"global token indices must be in [0, {n}), got {idx.tolist()}")
    is_global = torch.zeros(n, dtype=torch.bool)
    is_global[idx] = True
    return is_global[:, None] | is_global[None, :]


def longformer(n: int, w: int, global_idx=(0,), dilation: int = 1) -> torch.Tensor:
    """Longformer (Beltagy et al. 2020): (dilated) sliding window ∪ global tokens."""
    return dilated(n, w, dilation) | global_tokens(n, global_idx)


def _expand_blocks(block_mask: torch.Tensor, block: int, n: int) -> torch.Tensor:
    """(nb, nb) block pattern → (n, n) token mask (the last block may be partial)."""
    m = block_mask.repeat_interleave(block, 0).repeat_interleave(block, 1)  # (nb·block, nb·block)
    return m[:n, :n].contiguous()


def bigbird_random_blocks(
    nb: int, num_random: int, num_global_blocks: int, generator: torch.Generator | None = None
) -> list[list[int]]:
    """For each block row: `num_random` distinct key blocks drawn uniformly outside the row's 3-block window and
    the global blocks (fewer when fewer remain). Global rows get none (they already see everything)."""
    g = _global_block_ids(nb, num_global_blocks)
    out = []
    for r in range(nb):
        if r in g:
            out.append([])
            continue
        cand = [c for c in range(nb) if abs(c - r) > 1 and c not in g]
        pick = torch.randperm(len(cand), generator=generator)[:num_random].tolist() if cand else []
        out.append(sorted(cand[p] for p in pick))
    return out


def _global_block_ids(nb: int, num_global_blocks: int) -> set[int]:
    first = range(min(num_global_blocks, nb))
    last = range(max(nb - num_global_blocks, 0), nb)
    return set(first) | set(last)


def bigbird(
    n: int,
    block: int = 64,
    num_random: int = 3,
    num_global_blocks: int = 1,
    generator: torch.Generator | None = None,
    random_blocks: list[list[int]] | None = None,
) -> torch.Tensor:
    """BigBird-ITC (Zaheer et al. 2020) at block granularity: a window of 3 blocks (|bi − bj| ≤ 1), the first and
    last `num_global_blocks` blocks global (rows and columns), and `num_random` random key blocks per block row
    outside the window and the globals (see bigbird_random_blocks; pass `random_blocks` to fix them)."""
    _check(n, block=block)
    if num_random < 0 or num_global_blocks < 0:
        raise ValueError("num_random and num_global_blocks must be ≥ 0")
    nb = math.ceil(n / block)
    if random_blocks is None:
        random_blocks = bigbird_random_blocks(nb, num_random, num_global_blocks, generator)
    b = torch.arange(nb)
    bm = (b[:, None] - b[None, :]).abs() <= 1  # (nb, nb) window of 3 blocks
    is_g = torch.zeros(nb, dtype=torch.bool)
    is_g[list(_global_block_ids(nb, num_global_blocks))] = True
    bm |= is_g[:, None] | is_g[None, :]
    for r, cols in enumerate(random_blocks):
        bm[r, cols] = True
    return _expand_blocks(bm, block, n)


def sparse_strided(n: int, stride: int) -> torch.Tensor:
    """Sparse Transformer strided pattern (Child et al. 2019; `stride` is the paper's l), causal: the previous
    `stride` positions (max(0, i − stride) ≤ j ≤ i) ∪ {j ≤ i : (i − j) mod stride = 0}."""
    _check(n, stride=stride)
    rel = _offsets(n)
    return (rel >= 0) & ((rel <= stride) | (rel % stride == 0))


def sparse_fixed(n: int, stride: int, c: int) -> torch.Tensor:
    """Sparse Transformer fixed pattern (Child et al. 2019; `stride` is the paper's l), causal: the query's own
    block (⌊j/stride⌋ = ⌊i/stride⌋) ∪ the last c positions of every block (j mod stride ≥ stride − c), j ≤ i."""
    _check(n, stride=stride, c=c)
    if c > stride:
        raise ValueError(f"c must be ≤ the stride, got c={c}, stride={stride}")
    i = torch.arange(n)
    same_block = (i[:, None] // stride) == (i[None, :] // stride)
    summary = (i % stride >= stride - c)[None, :].expand(n, n)
    return (same_block | summary) & (_offsets(n) >= 0)


def block_local(n: int, block: int) -> torch.Tensor:
    """Blockwise local attention (Qiu et al. 2019, BlockBERT; the "local" attention of Parmar et al. 2018):
    the sequence is cut into blocks of `block` tokens and a query sees only its own block, ⌊j/b⌋ = ⌊i/b⌋."""
    _check(n, block=block)
    i = torch.arange(n)
    return (i[:, None] // block) == (i[None, :] // block)


def axial(h: int, w: int) -> torch.Tensor:
    """Axial attention on an h × w grid of row-major tokens: attend to the same row or the same column.
    (h·w, h·w)"""
    _check(h, w=w)
    pos = torch.arange(h * w)
    row, col = pos // w, pos % w
    return (row[:, None] == row[None, :]) | (col[:, None] == col[None, :])


def axial_grid(n: int) -> tuple[int, int]:
    """A near-square grid (h, w) with h·w ≥ n for laying a 1-D sequence out for axial attention."""
    w = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / w), w


def density(mask: torch.Tensor) -> float:
    """Fraction of allowed (query, key) pairs."""
    return float(mask.float().mean())
