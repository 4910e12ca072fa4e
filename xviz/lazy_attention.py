"""Attention kept as what it is computed from, and computed on demand.

A dense recording keeps scores and probabilities for every layer and head: 2·L·H·N² numbers, 67 GiB of probs
alone for SmolLM2 at 8k tokens. An `AttentionSource` keeps what one attention module computed them from — q after
RoPE (B, H, Nq, D), k per KV head (B, Hkv, Nk, D), the mask and additive bias it used, the scale and soft-cap —
about 2·H·N·D numbers, and recomputes any rows of any head when a view asks, with the math of the eager path:

    s = (q·kᵀ)·scale → soft-cap c·tanh(s/c) (Gemma 2) → + bias (T5, Swin, ALiBi) → mask (−max where not allowed)
    p = softmax(s) in float32, cast back to q's dtype (transformers' eager path)

so the values equal the eager tensors of the same run up to the float rounding of a row-blocked matmul (the tests
check 1e-6). Statistics are streamed in row blocks and never hold N² numbers at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

ROW_BLOCK = 256  # rows per streamed block: (B·H·256·Nk) floats, 37 MB for SmolLM2 at 4k tokens


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class AttentionSource:
    q: torch.Tensor  # (B, H, Nq, D), as attention saw it (after RoPE)
    k: torch.Tensor  # (B, Hkv, Nk, D), per KV head under grouped-query attention
    mask: torch.Tensor | None  # bool (True = may attend) or additive float, broadcastable to (B, H, Nq, Nk)
    bias: torch.Tensor | None  # additive, broadcastable to (B, H, Nq, Nk)
    scale: float
    softcap: float | None = None
    causal: bool = False  # no mask given: the causal mask (queries are the last Nq of the Nk positions)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        B, H, Nq, _ = self.q.shape
        return B, H, Nq, self.k.shape[-2]

    def dense_nbytes(self, dtype: torch.dtype | None = None) -> int:
        """Bytes of one dense (B, H, Nq, Nk) tensor (scores or probs) in `dtype` (default: q's)."""
        return math.prod(self.shape) * torch.empty((), dtype=dtype or self.q.dtype).element_size()

    def nbytes(self) -> int:
        extra = [t for t in (self.mask, self.bias) if t is not None]
        return sum(t.numel() * t.element_size() for t in (self.q, self.k, *extra))

    def _heads(self, heads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q and k (repeated to their query heads) of `heads` (long (h,))."""
        n_rep = self.q.shape[1] // self.k.shape[1]
        return self.q[:, heads], self.k[:, heads // n_rep]  # (B, h, Nq, D), (B, h, Nk, D)

    def scores(self, heads: torch.Tensor, rows: slice) -> torch.Tensor:
        """Scores (after scale, soft-cap, bias and mask) of rows `rows` of `heads`: (B, h, r, Nk)."""
        q, k = self._heads(heads)
        s = (q[:, :, rows] @ k.transpose(-2, -1)) * self.scale  # (B, h, r, Nk)
        if self.softcap is not None:
            s = torch.tanh(s / self.softcap) * self.softcap
        if self.bias is not None:
            s = s + _cut(self.bias, heads, rows)
        mask = self.mask
        if mask is None and self.causal and self.q.shape[2] > 1:
            nq, nk = self.q.shape[2], self.k.shape[2]
            i = torch.arange(nq, device=s.device)[rows, None] + (nk - nq)  # query positions
            mask = (torch.arange(nk, device=s.device)[None] <= i)[None, None]  # (1, 1, r, Nk)
            return torch.where(mask, s, torch.finfo(s.dtype).min)
        if mask is not None:
            m = _cut(mask, heads, rows)
            s = torch.where(m, s, torch.finfo(s.dtype).min) if m.dtype == torch.bool else s + m
        return s

    def probs(self, heads: torch.Tensor, rows: slice) -> torch.Tensor:
        """Probabilities of rows `rows` of `heads`: (B, h, r, Nk), softmax over every key."""
        return self.scores(heads, rows).softmax(dim=-1, dtype=torch.float32).to(self.q.dtype)

    def blocks(
        self, kind: str = "probs", heads=None, rows: slice = slice(None), block: int = ROW_BLOCK
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        """(rows, (B, h, r, Nk)) for consecutive row blocks of `rows`: the map, never all of it at once."""
        heads = self.head_index(heads)
        fn = self.probs if kind == "probs" else self.scores
        yield from ((r, fn(heads, r)) for r in _row_blocks(rows, self.q.shape[2], block))

    def head_index(self, heads) -> torch.Tensor:
        return head_index(heads, self.q.shape[1])

    def dense(self, kind: str = "probs") -> torch.Tensor:
        """The whole (B, H, Nq, Nk) tensor (what a dense recording would have kept)."""
        return torch.cat([t for _, t in self.blocks(kind)], dim=2)

    def to(self, device: torch.device | str) -> AttentionSource:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return AttentionSource(
            move(self.q), move(self.k), move(self.mask), move(self.bias), self.scale, self.softcap, self.causal
        )


def head_index(heads, num_heads: int) -> torch.Tensor:
    """None → every head; an int → that one; a list → those (long (h,))."""
    if heads is None:
        return torch.arange(num_heads)
    if isinstance(heads, int):
        return torch.tensor([heads])
    return torch.as_tensor(heads, dtype=torch.long)


def _row_blocks(rows: slice, n: int, block: int) -> Iterator[slice]:
    start, stop, _ = rows.indices(n)
    for s in range(start, stop, block):
        yield slice(s, min(s + block, stop))


@dataclass
class StoredAttention:
    """A dense recording's scores or probs (B, H, Nq, Nk) behind the same reading interface as a source."""

    tensor: torch.Tensor

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(self.tensor.shape)

    def head_index(self, heads) -> torch.Tensor:
        return head_index(heads, self.tensor.shape[1])

    def blocks(
        self, kind: str = "probs", heads=None, rows: slice = slice(None), block: int = ROW_BLOCK
    ) -> Iterator[tuple[slice, torch.Tensor]]:
        heads = self.head_index(heads)
        yield from ((r, self.tensor[:, heads, r]) for r in _row_blocks(rows, self.tensor.shape[2], block))

    def dense(self, kind: str = "probs") -> torch.Tensor:
        return self.tensor


def _cut(t: torch.Tensor, heads: torch.Tensor, rows: slice) -> torch.Tensor:
    """A mask or bias broadcastable to (B, H, Nq, Nk), cut to `heads` and `rows` (broadcast dims kept)."""
    while t.dim() < 4:
        t = t[None]
    if t.shape[1] > 1:
        t = t[:, heads.to(t.device)]
    if t.shape[2] > 1:
        t = t[:, :, rows]
    return t


# ---- streamed reductions ----------------------------------------------------------------------------------
@dataclass
class RowStats:
    """Per head and query (H, Nq) of one batch item, streamed: entropy (nats), mean distance |i − j| (tokens), the
    mass on key 0, the key each query attends most and its weight, and the top-k keys."""

    entropy: torch.Tensor
    distance: torch.Tensor
    first: torch.Tensor
    argmax: torch.Tensor
    max: torch.Tensor
    topk_keys: torch.Tensor  # (H, Nq, k)
    topk_weights: torch.Tensor  # (H, Nq, k)
    mass: dict[str, torch.Tensor]  # name -> (H, Nq): the mass each query puts on that set of keys


def row_stats(
    src, batch: int = 0, topk: int = 5, block: int = ROW_BLOCK, key_sets: dict[str, torch.Tensor] | None = None
) -> RowStats:
    """`src`: an AttentionSource or a StoredAttention of probabilities; key_sets: name -> bool (Nk,) keys whose
    received mass to sum per query (the first real token, the special tokens, …)."""
    _, _, nq, nk = src.shape
    key_sets = key_sets or {}
    offset = nk - nq  # query i sits at position i + offset (a KV cache)
    keys = torch.arange(nk, dtype=torch.float32)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("ent", "dist", "first", "am", "mx", "ti", "tw")}
    parts.update({f"set:{name}": [] for name in key_sets})
    for rows, p in src.blocks("probs", block=block):
        p = p[batch].float().cpu()  # (H, r, Nk)
        pos = torch.arange(rows.start, rows.stop, dtype=torch.float32) + offset
        parts["ent"].append(-torch.special.xlogy(p, p).sum(-1))
        parts["dist"].append((p * (pos[:, None] - keys[None]).abs()).sum(-1))
        parts["first"].append(p[..., 0])
        mx, am = p.max(-1)
        parts["mx"].append(mx)
        parts["am"].append(am)
        tw, ti = p.topk(min(topk, nk), dim=-1)
        parts["tw"].append(tw)
        parts["ti"].append(ti)
        for name, chosen in key_sets.items():
            parts[f"set:{name}"].append(p[..., chosen.bool()].sum(-1))
    cat = {k: torch.cat(v, dim=1) for k, v in parts.items()}
    mass = {name: cat[f"set:{name}"] for name in key_sets}
    return RowStats(cat["ent"], cat["dist"], cat["first"], cat["am"], cat["mx"], cat["ti"], cat["tw"], mass)


def pooled_map(
    src,
    head: int | None = None,
    rows: slice = slice(None),
    cols: slice = slice(None),
    size: int = 64,
    reduce: str = "mean",
    batch: int = 0,
    kind: str = "probs",
) -> tuple[torch.Tensor, int, int]:
    """A region of the map (all heads, or one), down-sampled to at most size × size cells by block mean or max:
    (h, R, C) and the cell height and width in tokens. `src`: an AttentionSource or a StoredAttention."""
    _, _, nq, nk = src.shape
    r0, r1, _ = rows.indices(nq)
    c0, c1, _ = cols.indices(nk)
    fy, fx = max(1, _ceil_div(r1 - r0, size)), max(1, _ceil_div(c1 - c0, size))
    block = fy * max(1, ROW_BLOCK // fy)  # whole pooling cells per block
    out = [
        _pool(m[batch, :, :, c0:c1].float().cpu(), fy, fx, reduce)  # (h, r, c) → (h, r/fy, c/fx)
        for _, m in src.blocks(kind, head, slice(r0, r1), block)
    ]
    return torch.cat(out, dim=1), fy, fx


def _pool(m: torch.Tensor, fy: int, fx: int, reduce: str) -> torch.Tensor:
    """(h, r, c) → (h, ⌈r/fy⌉, ⌈c/fx⌉) by block mean (over the cells present) or max; masked scores (the most
    negative float) are left out of a mean, and a block of only masked cells stays masked."""
    if reduce == "mean":
        m = m.masked_fill(m <= torch.finfo(m.dtype).min / 2, float("nan"))
    h, r, c = m.shape
    pr, pc = _ceil_div(r, fy) * fy - r, _ceil_div(c, fx) * fx - c
    fill = float("nan") if reduce == "mean" else -float("inf")
    m = torch.nn.functional.pad(m, (0, pc, 0, pr), value=fill)
    m = m.view(h, m.shape[1] // fy, fy, m.shape[2] // fx, fx)  # (h, R, fy, C, fx)
    if reduce == "max":
        return m.amax(dim=(2, 4))
    return m.nanmean(dim=(2, 4)).nan_to_num(nan=torch.finfo(m.dtype).min)
