"""What the attention pages show, read from a recording whatever its length: thumbnails for the layer × head
overview, a region of one head (exact cells when it is small, block-pooled when not), one query's row, the
per-head statistics and the collapse matrix. Every function reads through `Recording.source`, so a dense recording
and one that keeps attention on demand give the same numbers, and a 16k-token run never builds N² at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xviz.analysis.attention_stats import first_token
from xviz.analysis.collapse import cross_layer_similarity
from xviz.hooks import Recording
from xviz.lazy_attention import pooled_map, row_stats


def _key(layer: int, kind: str, prefix: str) -> str:
    return f"{prefix}.{layer}.attn.hook_{kind}"


def num_layers(rec: Recording, prefix: str = "blocks") -> int:
    n = 0
    while _key(n, "probs", prefix) in rec:
        n += 1
    return n


def overview_maps(rec: Recording, cell: int = 56, batch: int = 0, prefix: str = "blocks") -> torch.Tensor:
    """(L, H, cell, cell) thumbnails: each map block-averaged on the way (never whole when kept on demand)."""
    out = []
    for layer in range(num_layers(rec, prefix)):
        pooled, _, _ = pooled_map(rec.source(_key(layer, "probs", prefix)), size=cell, batch=batch)  # (H, R, C)
        out.append(F.interpolate(pooled[:, None], size=(cell, cell), mode="nearest")[:, 0])  # (H, cell, cell)
    return torch.stack(out)


@dataclass
class Region:
    """A region of one head's map: `values` (R, C) with cell size (fy, fx) in tokens from (r0, c0); fy = fx = 1
    means exact cells, one per token pair."""

    values: torch.Tensor
    r0: int
    c0: int
    fy: int
    fx: int

    @property
    def exact(self) -> bool:
        return self.fy == 1 and self.fx == 1

    def labels(self, tokens: list[str], axis: int) -> list[str]:
        """Token labels of exact cells; "i–j" token ranges of pooled ones."""
        start, step, n = (
            (self.r0, self.fy, self.values.shape[0]) if axis == 0 else (self.c0, self.fx, self.values.shape[1])
        )
        if step == 1:
            return [
                f"{start + i}: {tokens[start + i]}" if start + i < len(tokens) else str(start + i) for i in range(n)
            ]
        return [f"{start + i * step}–{start + (i + 1) * step - 1}" for i in range(n)]


def head_region(
    rec: Recording,
    layer: int,
    head: int,
    kind: str = "probs",
    rows: slice = slice(None),
    cols: slice = slice(None),
    max_side: int = 512,
    batch: int = 0,
    prefix: str = "blocks",
) -> Region:
    """One head's map over rows × cols, pooled (block mean) to at most max_side cells per side."""
    src = rec.source(_key(layer, kind, prefix))
    _, _, nq, nk = src.shape
    r0, c0 = rows.indices(nq)[0], cols.indices(nk)[0]
    values, fy, fx = pooled_map(src, head, rows, cols, size=max_side, batch=batch, kind=kind)
    return Region(values[0], r0, c0, fy, fx)


def attention_row(rec: Recording, layer: int, head: int, query: int, batch: int = 0, prefix: str = "blocks"):
    """(Nk,) probabilities of one query of one head."""
    return rec.attention(_key(layer, "probs", prefix), head, rows=slice(query, query + 1), batch=batch)[0]


def head_statistics(
    rec: Recording, valid: torch.Tensor, special: torch.Tensor, special_label: str, batch: int = 0
) -> list[tuple[str, torch.Tensor, str]]:
    """The Attention page's per-head statistics (L, H) over real query tokens, streamed in row blocks: entropy,
    mean distance, the share on the first real token (the sink, Xiao et al. 2023), and on special tokens when the
    input has them. valid, special: bool (N,). Equal to attention_stats.head_stat_maps on the dense maps."""
    valid = valid.bool()
    keys = {"first": first_token(valid)}
    if (special.bool() & valid).any():
        keys["special"] = special.bool() & valid
    w = valid.float() / valid.float().sum().clamp(min=1)  # (Nq,) mean over real queries
    per_layer = [
        row_stats(rec.source(_key(layer, "probs", "blocks")), batch=batch, topk=1, key_sets=keys)
        for layer in range(num_layers(rec))
    ]
    mean = lambda get: torch.stack([(get(s) * w).sum(-1) for s in per_layer])  # (L, H)  # noqa: E731
    out = [
        ("entropy (nats)", mean(lambda s: s.entropy), ".2f"),
        ("mean distance (tokens)", mean(lambda s: s.distance), ".1f"),
        ("share on the first token (sink)", mean(lambda s: s.mass["first"]), ".2f"),
    ]
    if "special" in keys:
        out.append((f"share on {special_label}", mean(lambda s: s.mass["special"]), ".2f"))
    return out


def collapse_similarity(rec: Recording, valid: torch.Tensor, max_side: int = 256, batch: int = 0) -> torch.Tensor:
    """Cross-layer similarity (DeepViT) of the maps; above max_side tokens on max_side² block-averaged maps (the
    cosine of pooled key columns: an approximation, said on the page)."""
    L = num_layers(rec)
    n = int(valid.numel())
    if n <= max_side:
        probs = torch.stack([rec["probs", i][batch] for i in range(L)])  # (L, H, N, N)
        return cross_layer_similarity(probs, valid)
    maps = [pooled_map(rec.source(_key(i, "probs", "blocks")), size=max_side, batch=batch)[0] for i in range(L)]
    return cross_layer_similarity(torch.stack(maps))
