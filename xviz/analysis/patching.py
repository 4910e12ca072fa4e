"""Activation patching (Meng et al. 2022; Wang et al. 2022; Heimersheim & Nanda 2024): run the corrupted prompt
with one activation taken from the clean run, and read the metric (logit[answer] − logit[wrong] at the last
position). Every cell of a grid is the metric of one patched run, as TransformerLens's `get_act_patch_*`.

Sites (hook names of xviz's schema, `xviz.record(..., edits=)`; the shared model is never touched):
- `resid_pre` (L, N): `blocks.{l}.hook_resid_pre` at position p;
- `attn_out` (L, N): the attention output at p = Σ_h z_h[p] W_O,h + b_O, so patching every head's z at p
  (`blocks.{l}.attn.hook_z`) patches it exactly;
- `mlp_out` (L, N): resid_post[p] := resid_mid_corrupt[p] + (resid_post − resid_mid)_clean[p] on
  `blocks.{l}.hook_resid_post` (nothing upstream of layer l's MLP changes, so resid_mid is the corrupted one);
- heads (L, H): `z`, `q`, `pattern` per query head; `k`, `v` per KV head (L, Hkv) under grouped-query attention.

Batching: the patched runs are rows of one batch, each row with its own edit. Rows patched at layer l equal the
corrupted run before layer l, so one corrupted row per pair runs the first layers and each layer's rows are
added at its `hook_resid_pre` (about half the work of running every row through every layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import xviz
from xviz.analysis.circuit_inputs import PromptPairs, logit_diff, normalise, prompt_pairs
from xviz.errors import InputError, ResourceError

Progress = Callable[[float, str], None] | None
POSITION_SITES = ("resid_pre", "attn_out", "mlp_out")
HEAD_COMPONENTS = ("z", "q", "k", "v", "pattern")
MAX_SOURCE_FLOATS = 2**27  # clean activations kept for a sweep (512 MiB of float32)
MAX_BATCH_TOKENS = 1024  # rows × tokens per forward


@dataclass(frozen=True)
class Site:
    hook: str  # hook name with {l}
    dim: int  # axis of the patched index in the hook's tensor (0 is the batch)
    record: str  # the clean hook whose values are patched in


SITES = {
    "resid_pre": Site("blocks.{l}.hook_resid_pre", 1, "blocks.{l}.hook_resid_pre"),
    "attn_out": Site("blocks.{l}.attn.hook_z", 2, "blocks.{l}.attn.hook_z"),
    "mlp_out": Site("blocks.{l}.hook_resid_post", 1, "blocks.{l}.hook_resid_post"),
    "z": Site("blocks.{l}.attn.hook_z", 1, "blocks.{l}.attn.hook_z"),
    "q": Site("blocks.{l}.attn.hook_q", 1, "blocks.{l}.attn.hook_q"),
    "k": Site("blocks.{l}.attn.hook_k", 1, "blocks.{l}.attn.hook_k"),
    "v": Site("blocks.{l}.attn.hook_v", 1, "blocks.{l}.attn.hook_v"),
    "pattern": Site("blocks.{l}.attn.hook_probs", 1, "blocks.{l}.attn.hook_probs"),
}


@dataclass(frozen=True)
class PatchResult:
    """Per-pair patched metrics of one sweep, with the clean and corrupted baselines."""

    site: str
    values: torch.Tensor  # (P, L, n): the metric of each patched run, per prompt pair
    clean: torch.Tensor  # (P,) metric of the clean run
    corrupt: torch.Tensor  # (P,) metric of the corrupted run

    @property
    def mean(self) -> torch.Tensor:
        return self.values.mean(0)  # (L, n)

    def normalised(self) -> torch.Tensor:
        return normalise(self.values, self.clean, self.corrupt)  # (P, L, n): 0 corrupted, 1 clean

    def summary(self, normalised: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean over pairs and the half-width of its 95 % Student-t interval (NaN with one pair)."""
        v = self.normalised() if normalised else self.values
        return v.mean(0), ci_halfwidth(v)


_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131]


def ci_halfwidth(v: torch.Tensor) -> torch.Tensor:
    """(P, …) → (…) half-width of the 95 % t-interval of the mean: t_{0.975, P−1} · s / √P."""
    p = v.shape[0]
    if p < 2:
        return torch.full(v.shape[1:], float("nan"))
    t = _T975[p - 2] if p - 2 < len(_T975) else 1.96 + 2.4 / p  # beyond 16 pairs: within 1e-2 of the table
    return t * v.std(0, unbiased=True) / p**0.5


# ---- running ------------------------------------------------------------------------------------------------------
@torch.no_grad()
def last_logits(model, ids: torch.Tensor, edits: dict | None = None, names=None):
    """(R, N) ids → (R, V) float32 logits of the last position (and the recording of `names`)."""
    with xviz.record(model, names=names or [], edits=edits or {}) as rec:
        out = model(input_ids=ids.to(model.device), logits_to_keep=1, use_cache=False)
    return out.logits[:, -1].float().cpu(), rec


def baselines(model, pairs: PromptPairs, names=None):
    """Clean and corrupted runs: (metric_clean (P,), metric_corrupt (P,), clean recording, corrupt recording)."""
    lc, rc = last_logits(model, pairs.clean, names=names)
    lx, rx = last_logits(model, pairs.corrupt, names=names)
    return logit_diff(lc, pairs.answer, pairs.wrong), logit_diff(lx, pairs.answer, pairs.wrong), rc, rx


def _sources(model, pairs: PromptPairs, site: str):
    """Per layer, the (P, …) clean values patched in at `site`, and the two baselines."""
    L = model.num_layers
    if site == "mlp_out":
        names = [f"blocks.{i}.hook_resid_{s}" for i in range(L) for s in ("mid", "post")]
        mc, mx, rc, rx = baselines(model, pairs, names)
        src = [rx[f"blocks.{i}.hook_resid_mid"] + rc[f"blocks.{i}.hook_resid_post"] - rc[f"blocks.{i}.hook_resid_mid"]
               for i in range(L)]  # fmt: skip
        return src, mc, mx
    _check_size(model, pairs, site)
    names = [SITES[site].record.format(l=i) for i in range(L)]
    mc, mx, rc, _ = baselines(model, pairs, names)
    return [rc[n] for n in names], mc, mx


def _check_size(model, pairs: PromptPairs, site: str) -> None:
    P, N, L = pairs.num_pairs, pairs.num_tokens, model.num_layers
    per = model.num_heads * N * N if site == "pattern" else max(model.hidden_size, model.num_heads * model.head_dim) * N
    if P * L * per > MAX_SOURCE_FLOATS:
        raise ResourceError(
            f"Patching {site!r} keeps {P * L * per * 4 / 2**20:.0f} MiB of clean activations "
            f"({P} pairs × {N} tokens × {L} layers); the limit is {MAX_SOURCE_FLOATS * 4 / 2**20:.0f} MiB. "
            "Use fewer tokens or fewer pairs."
        )


def grid_size(model, site: str, num_tokens: int) -> int:
    """Cells per layer: positions, query heads, or KV heads (k / v under grouped-query attention)."""
    if site in POSITION_SITES:
        return num_tokens
    if site not in SITES:
        raise InputError(f"Unknown patching site {site!r}: one of {', '.join(SITES)}.")
    return model.num_kv_heads if site in ("k", "v") else model.num_heads


# ---- edits ------------------------------------------------------------------------------------------------------
def _grow(ex: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """x (R, N, C) → (R + k, N, C): k new rows, copies of the corrupted trunk rows `ex` (identical so far)."""
    return lambda x: torch.cat([x, x[ex.to(x.device)]])


def _put(dim: int, rows: torch.Tensor, idx: torch.Tensor, vals: torch.Tensor) -> Callable:
    """x[rows, idx] (dim 1) or x[rows, :, idx] (dim 2) := vals, on a copy."""

    def edit(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        r, i = rows.to(x.device), idx.to(x.device)
        if dim == 1:
            x[r, i] = vals.to(x.device, x.dtype)
        else:
            x[r, :, i] = vals.to(x.device, x.dtype)
        return x

    return edit


def _chain(fns: list[Callable]) -> Callable:
    def edit(x):
        for f in fns:
            x = f(x)
        return x

    return edit


def chunk_edits(site: str, cells: list[tuple[int, int]], sources, ex: int, share_prefix: bool = True) -> dict:
    """Edits for one batch of pair `ex`: row 0 is its corrupted run (the trunk); each cell adds one row, a copy of
    the trunk made at the `hook_resid_pre` of the cell's layer (of layer 0 when `share_prefix` is off: every row
    then runs every layer), then patched at its site. A trunk of one row keeps every batch-1 tensor the model
    built before the blocks (the causal mask, rotary tables) broadcastable to the grown batch."""
    spec, fns = SITES[site], {}
    grow_at = [layer if share_prefix else 0 for layer, _ in cells]
    for g in sorted(set(grow_at)):  # cells are sorted by layer, so rows stay in cell order
        k = grow_at.count(g)
        fns.setdefault(f"blocks.{g}.hook_resid_pre", []).append(_grow(torch.zeros(k, dtype=torch.long)))
    for layer in sorted({layer for layer, _ in cells}):
        cs = [c for c, (lay, _) in enumerate(cells) if lay == layer]
        rows = torch.tensor(cs) + 1  # (k,) row 0 is the trunk
        idx = torch.tensor([cells[c][1] for c in cs])  # (k,) position or head of each row
        src = sources[layer][ex]  # (…) this pair's clean activation
        vals = src[idx] if spec.dim == 1 else src[:, idx].movedim(1, 0)  # (k, …)
        fns.setdefault(spec.hook.format(l=layer), []).append(_put(spec.dim, rows, idx, vals))
    return {name: _chain(f) for name, f in fns.items()}


def _chunks(cells: list[tuple[int, int]], per_chunk: int) -> list[list[tuple[int, int]]]:
    return [cells[i : i + per_chunk] for i in range(0, len(cells), per_chunk)]


def _live_cells(pairs: PromptPairs, e: int, site: str, cells: list[tuple[int, int]], skip_prefix: bool):
    """The cells of pair e that can change anything. Before the first position where the prompts differ, every
    stream is the same in both runs (causal attention), so patching a position there is a no-op: its value is the
    corrupted metric, without a run."""
    if not skip_prefix or site not in POSITION_SITES:
        return cells
    diff = (pairs.clean[e] != pairs.corrupt[e]).nonzero()
    first = int(diff[0]) if diff.numel() else pairs.num_tokens
    return [c for c in cells if c[1] >= first]


def sweep(
    model,
    pairs: PromptPairs,
    site: str,
    progress: Progress = None,
    share_prefix: bool = True,
    batch_rows=None,
    skip_prefix: bool = True,
) -> PatchResult:
    """Every cell of `site`'s grid patched, in batches of rows (one pair per batch). Returns values (P, L, n)."""
    L, P, N = model.num_layers, pairs.num_pairs, pairs.num_tokens
    n = grid_size(model, site, N)
    sources, mc, mx = _sources(model, pairs, site)
    cells = [(layer, i) for layer in range(L) for i in range(n)]  # sorted by layer: rows grow in cell order
    per_chunk = max(1, (batch_rows or MAX_BATCH_TOKENS // max(N, 1)) - 1)
    plan = [_chunks(_live_cells(pairs, e, site, cells, skip_prefix), per_chunk) for e in range(P)]
    values = mx[:, None].repeat(1, L * n)  # (P, L·n): a skipped cell is the corrupted run
    total, done = max(1, sum(len(c) for c in plan)), 0
    for e, chunks in enumerate(plan):
        for chunk in chunks:
            if progress:
                progress(done / total, f"Patching {site}: batch {done + 1} of {total} ({len(chunk)} runs)")
            logits, _ = last_logits(model, pairs.corrupt[e : e + 1], chunk_edits(site, chunk, sources, e, share_prefix))
            flat = torch.tensor([layer * n + i for layer, i in chunk])  # (k,) cell → column of values
            values[e, flat] = logit_diff(
                logits[1:], pairs.answer[e].expand(len(chunk)), pairs.wrong[e].expand(len(chunk))
            )
            done += 1
    if progress:
        progress(1.0, f"Patched {len(cells)} cells of {site}")
    return PatchResult(site, values.reshape(P, L, n), mc, mx)  # (P, L·n) → (P, L, n)


def sweep_cell_by_cell(model, pairs: PromptPairs, site: str, progress: Progress = None) -> PatchResult:
    """The slow reference (TransformerLens's loop): one forward of the P corrupted prompts per cell."""
    L, P = model.num_layers, pairs.num_pairs
    n = grid_size(model, site, pairs.num_tokens)
    sources, mc, mx = _sources(model, pairs, site)
    spec, values = SITES[site], torch.zeros(P, L, n)
    for layer in range(L):
        if progress:
            progress(layer / L, f"Patching {site} of layer {layer}, one cell at a time")
        for i in range(n):
            idx = torch.full((P,), i)
            src = sources[layer]
            vals = src[torch.arange(P), idx] if spec.dim == 1 else src[torch.arange(P), :, idx]
            edits = {spec.hook.format(l=layer): _put(spec.dim, torch.arange(P), idx, vals)}
            logits, _ = last_logits(model, pairs.corrupt, edits)
            values[:, layer, i] = logit_diff(logits, pairs.answer, pairs.wrong)
    return PatchResult(site, values, mc, mx)


# ---- the public API -----------------------------------------------------------------------------------------------
def patch_residual(model, clean, corrupt, answer, wrong, site: str = "resid_pre", progress: Progress = None):
    """(L, N): the metric of the corrupted run with `site` (resid_pre | attn_out | mlp_out) of layer l at position
    p taken from the clean run. Several pairs (lists): the mean over pairs."""
    if site not in POSITION_SITES:
        raise InputError(f"patch_residual patches {', '.join(POSITION_SITES)}, not {site!r}.")
    return sweep(model, prompt_pairs(model, clean, corrupt, answer, wrong), site, progress).mean


def patch_heads(model, clean, corrupt, answer, wrong, component: str = "z", progress: Progress = None):
    """(L, H) — (L, Hkv) for k / v under GQA: the metric with one head's `component` (z | q | k | v | pattern)
    taken from the clean run at every position. Several pairs (lists): the mean over pairs."""
    if component not in HEAD_COMPONENTS:
        raise InputError(f"patch_heads patches {', '.join(HEAD_COMPONENTS)}, not {component!r}.")
    return sweep(model, prompt_pairs(model, clean, corrupt, answer, wrong), component, progress).mean


def patch_head_set(
    model, pairs: PromptPairs, head_sets: list[list[tuple[int, int]]], progress: Progress = None, per_batch: int = 8
) -> torch.Tensor:
    """(S, P): the metric with every head of each set patched together (z from the clean run); one row per set
    and pair, `per_batch` sets per forward (the faithfulness curve: the top-k heads for k = 0, 1, …)."""
    L, P = model.num_layers, pairs.num_pairs
    _, _, rc, _ = baselines(model, pairs, [f"blocks.{i}.attn.hook_z" for i in range(L)])
    out = []
    for start in range(0, len(head_sets), per_batch):
        if progress:
            progress(start / len(head_sets), f"Patching the top {start}–{start + per_batch - 1} heads together")
        sets = head_sets[start : start + per_batch]
        fns: dict[str, Callable] = {}
        for layer in range(L):
            rows = [s * P + e for s, heads in enumerate(sets) for h in sorted({h for lay, h in heads if lay == layer})
                    for e in range(P)]  # fmt: skip
            idx = [h for heads in sets for h in sorted({h for lay, h in heads if lay == layer}) for _ in range(P)]
            if rows:
                r, i = torch.tensor(rows), torch.tensor(idx)
                vals = rc[f"blocks.{layer}.attn.hook_z"][r % P, i]  # (k, N, D) the clean z of each (pair, head)
                fns[f"blocks.{layer}.attn.hook_z"] = _put(1, r, i, vals)
        logits, _ = last_logits(model, pairs.corrupt.repeat(len(sets), 1), fns)  # (S'·P, V)
        out.append(logit_diff(logits, pairs.answer.repeat(len(sets)), pairs.wrong.repeat(len(sets))))
    return torch.cat(out).reshape(len(head_sets), P)  # (S·P,) → (S, P)
