"""Attention page views (text): overview grid, one head in detail, neuron view, lines, statistics, export.
Selections (layer, head, query) are shared by A and B so compare mode stays synchronised, except in "Two models"
(each model has its own layers and heads). Padding and special tokens come from the run (attention mask and
the batch's `special` flags), never from token strings; under GQA k/v are those of the KV head serving the head."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis import attention_views
from xviz.analysis.attention_stats import head_output_norms, masked_as_nan, neuron_view
from xviz.analysis.text_run import TextRun
from xviz.app import widgets
from xviz.app.widgets import Q
from xviz.plots.attention import (
    difference_figure,
    head_norms_figure,
    layer_head_figure,
    neuron_view_figure,
    overview_grid,
    token_lines,
)
from xviz.plots.heatmap import gamma_colorscale, heatmap
from xviz.plots.style import MAX_LABELLED, PROB_SCALE, SIGNED_SCALE
from xviz.plots.vision import collapse_figure

CAPTIONS = {
    "overview": "Every head of every layer at a glance (rows: layers, columns: heads; each thumbnail scaled to its "
    "own maximum). Look for diagonal (previous/next-token), vertical-stripe (a sink: [CLS]/[SEP] in "
    "BERT, the first token in decoders) and broad heads. A decoder's maps are lower triangles.",
    "probs": "softmax(QKᵀ/√d) for one head: row i is how query token i distributes its attention over the keys "
    "(rows sum to 1; padded keys get exactly 0).",
    "causal": "Causal decoder: query i may attend only to keys j ≤ i, so everything above the diagonal is exactly 0 "
    "(largest value there: {0:.1g}); the first rows have few keys to share their attention.",
    "scores": "The logits before the softmax: q·k/√d (+ mask). Softmax is shift-invariant per row, so only "
    "differences within a row matter. Masked entries (future tokens, padding) are left blank.",
    "qkv": "The per-head query, key and value vectors (token × head dimension) that produced this map.",
    "z": "Per-head output z = softmax(QKᵀ/√d)·V before the output projection, and its norm per token: a head "
    "with a sharp map but tiny ‖z‖ contributes little to the residual stream.",
    "neuron": "Neuron view: for one query, q ⊙ k per dimension shows which dimensions make a key score high; "
    "their sum (scaled) is the logit, and its softmax the probability.",
    "lines": "Each line joins a query (left) to a key (right); thicker and darker = more attention. Hover a left "
    "token for its top keys.",
    "stats": "Per-head statistics over real tokens: entropy (low = focused), mean distance |i − j| in tokens, the "
    "share of attention on the first token — the 'attention sink' of decoders (Xiao et al. 2023) — and, "
    "where the input has them, on special tokens such as [CLS]/[SEP], BERT's common 'no-op' sink.",
    "collapse": "DeepViT's attention-collapse check: cosine similarity between the attention maps of layers p and "
    "q (per head and key column, averaged). Values near 1 far from the diagonal mean deeper layers "
    "repeat earlier ones.",
    "diff": "A − B on a symmetric scale: red where A attends more, blue where B does.",
}


MAX_LINES = 128  # token lines beyond this are a hairball
COLLAPSE_SIDE = 256


def _selectors(run: TextRun, suffix: str = "") -> tuple[int, int]:
    for key, n in ((f"attn_layer{suffix}", run.num_layers), (f"attn_head{suffix}", run.num_heads)):
        if st.session_state.get(key, 0) not in range(n):  # a smaller model than the last one
            st.session_state[key] = 0
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", range(run.num_layers), key=f"attn_layer{suffix}", bind=Q)
    head = c2.selectbox("Head", range(run.num_heads), key=f"attn_head{suffix}", bind=Q)
    return layer, head


def render_views(run_a: TextRun, run_b: TextRun | None, compare: str, stem: str) -> None:
    layer, head = _selectors(run_a)
    if compare == "Two layers/heads":
        st.caption("Second view (B):")
        layer_b, head_b = _selectors(run_a, "_b")
        runs = [("A", run_a, layer, head), ("B", run_a, layer_b, head_b)]
    elif compare == "Two models" and run_b is not None:
        st.caption(f"Model B ({run_b.model_name}):")
        layer_b, head_b = _selectors(run_b, "_b")
        runs = [("A", run_a, layer, head), ("B", run_b, layer_b, head_b)]
    elif run_b is not None:
        runs = [("A", run_a, layer, head), ("B", run_b, layer, head)]
    else:
        runs = [("", run_a, layer, head)]
    widgets.lazy_tabs(TABS, "attn_tab", runs, run_a, compare, stem)  # only the open tab runs: 512 tokens stay fast


def _tab_overview(runs, run_a, compare, stem) -> None:
    _columns(runs, _overview)


def _tab_head(runs, run_a, compare, stem) -> None:
    st.toggle(
        "√ colour scale (reveals small weights next to a dominant sink column: [CLS]/[SEP], or a "
        "decoder's first token)",
        key="attn_sqrt",
        bind=Q,
    )
    rows, cols = region_controls(len(run_a.tokens[0]))
    _columns(runs, lambda tag, r, lyr, hd: _head(tag, r, lyr, hd, rows, cols))
    if compare != "Two models":  # two tokenisations: no cell-by-cell difference
        _difference(runs, rows, cols)


def _tab_qkv(runs, run_a, compare, stem) -> None:
    _columns(runs, _qkv)


def _tab_neuron(runs, run_a, compare, stem) -> None:
    tokens = run_a.tokens[0]
    qi = st.selectbox(
        "Query token", range(len(tokens)), key="attn_query", bind=Q, format_func=lambda i: f"{i}: {tokens[i]}"
    )
    _columns(runs, lambda tag, r, lyr, hd: _neuron(tag, r, lyr, hd, qi))


def _tab_lines(runs, run_a, compare, stem) -> None:
    thr = st.slider("Hide weights below", 0.0, 0.5, 0.05, 0.01, key="attn_threshold", bind=Q)
    _columns(runs, lambda tag, r, lyr, hd: _lines(tag, r, lyr, hd, thr))


def _tab_stats(runs, run_a, compare, stem) -> None:
    _columns(runs, _stats)


def _tab_collapse(runs, run_a, compare, stem) -> None:
    _columns(runs, _collapse)


def _tab_export(runs, run_a, compare, stem) -> None:
    for tag, run, _, _ in runs[: 1 if compare == "Two layers/heads" else 2]:
        st.markdown(f"**Recording {tag}** — {len(run.rec)} tensors, {run.rec.nbytes() / 2**20:.1f} MiB")
        widgets.recording_downloads(run.rec, f"xviz-{stem}-{tag or 'A'}", key=f"attn_export{tag}")


TABS = {
    "Overview": _tab_overview,
    "Head": _tab_head,
    "Q / K / V": _tab_qkv,
    "Neuron view": _tab_neuron,
    "Lines": _tab_lines,
    "Statistics": _tab_stats,
    "Collapse": _tab_collapse,
    "Export": _tab_export,
}


def _columns(runs, fn) -> None:
    cols = st.columns(len(runs))
    for col, (tag, run, layer, head) in zip(cols, runs):
        with col:
            fn(tag, run, layer, head)


def _label(tag: str, layer: int, head: int) -> str:
    return f"{tag + ': ' if tag else ''}layer {layer}, head {head}"


def _overview(tag, run: TextRun, layer, head) -> None:
    maps = attention_views.overview_maps(run.rec)  # (L, H, 56, 56): block-averaged, never whole maps
    widgets.figure(
        overview_grid(maps, title=f"{tag + ': ' if tag else ''}all layers × heads"),
        key=f"attn_overview{tag}",
        caption=CAPTIONS["overview"],
    )


def region_controls(n: int) -> tuple[slice, slice]:
    """Zoom: query rows × key columns of the head maps (the whole map by default). Regions of at most
    MAX_LABELLED tokens a side show one labelled cell per token pair; larger ones are block-averaged."""
    if n <= MAX_LABELLED:
        return slice(None), slice(None)
    c1, c2 = st.columns(2)
    rows = c1.slider("Query tokens", 0, n, (0, n), key="attn_rows", help="Zoom in on a range of queries.")
    cols = c2.slider("Key tokens", 0, n, (0, n), key="attn_cols", help="Zoom in on a range of keys.")
    rows = rows if rows[1] > rows[0] else (rows[0], rows[0] + 1)
    cols = cols if cols[1] > cols[0] else (cols[0], cols[0] + 1)
    return slice(*rows), slice(*cols)


def _region_figure(region, toks, title: str, **kw):
    exact = region.exact and max(region.values.shape) <= MAX_LABELLED
    whole = exact and (region.r0, region.c0) == (0, 0) and region.values.shape == (len(toks), len(toks))
    labels = (toks, toks) if whole else (region.labels(toks, 1), region.labels(toks, 0)) if exact else (None, None)
    note = "" if region.exact else f" (cells of {region.fy} × {region.fx} tokens, averaged)"
    return heatmap(region.values, *labels, title=title + note, **kw)


def _head(tag, run: TextRun, layer, head, rows=slice(None), cols=slice(None)) -> None:
    toks = run.tokens[0]
    if run.is_causal:
        above = attention_views.head_region(run.rec, layer, head, "probs", max_side=len(toks)).values
        st.caption(CAPTIONS["causal"].format(float(above.triu(1).max()) if len(toks) > 1 else 0.0))
    scale = gamma_colorscale(PROB_SCALE, 0.5) if st.session_state.get("attn_sqrt") else PROB_SCALE
    probs = attention_views.head_region(run.rec, layer, head, "probs", rows, cols)
    fig = _region_figure(
        probs, toks, f"Probabilities — {_label(tag, layer, head)}", zmin=0.0, value_name="p", colorscale=scale
    )
    widgets.figure(fig, key=f"attn_probs{tag}", caption=CAPTIONS["probs"])
    scores = attention_views.head_region(run.rec, layer, head, "scores", rows, cols)
    scores.values = masked_as_nan(scores.values)
    fig = _region_figure(
        scores,
        toks,
        f"Scores before softmax — {_label(tag, layer, head)}",
        colorscale=SIGNED_SCALE,
        zmid=0.0,
        value_name="score",
    )
    widgets.figure(fig, key=f"attn_scores{tag}", caption=CAPTIONS["scores"])


def _qkv(tag, run: TextRun, layer, head) -> None:
    toks = run.tokens[0]
    kv = run.kv_head(head)
    for name in ("q", "k", "v"):
        h = head if name == "q" else kv  # (B, H, N, D) for q; (B, Hkv, N, D) for k and v under GQA
        m = run.rec[name, layer][0, h]  # (N, D)
        gqa = f" (KV head {kv})" if name != "q" and run.rec["k", layer].shape[1] != run.num_heads else ""
        widgets.figure(
            heatmap(
                m,
                [str(d) for d in range(m.shape[1])],
                toks,
                title=f"{name.upper()} — {_label(tag, layer, head)}{gqa}",
                colorscale=SIGNED_SCALE,
                zmid=0.0,
                height=360,
                x_title="head dimension",
                y_title="token",
            ),
            key=f"attn_{name}{tag}",
        )
    st.caption(CAPTIONS["qkv"])
    norms = head_output_norms(run.rec["z", layer][0])  # (H, N)
    widgets.figure(
        head_norms_figure(norms, toks, title=f"‖z‖ per head and token — layer {layer}"),
        key=f"attn_znorm{tag}",
        caption=CAPTIONS["z"],
    )


def _neuron(tag, run: TextRun, layer, head, qi) -> None:
    toks = run.tokens[0]
    qi = min(qi, len(toks) - 1)
    q, k = run.rec["q", layer][0, head], run.rec["k", layer][0, run.kv_head(head)]  # (N, D) each
    prod, dots = neuron_view(q, k, qi)
    row = attention_views.attention_row(run.rec, layer, head, qi)
    fig = neuron_view_figure(prod, dots, row, toks, toks[qi], title=_label(tag, layer, head))
    widgets.figure(fig, key=f"attn_neuron{tag}", caption=CAPTIONS["neuron"])


def _lines(tag, run: TextRun, layer, head, threshold) -> None:
    toks = run.tokens[0][:MAX_LINES]
    if len(run.tokens[0]) > MAX_LINES:
        st.caption(f"Lines for the first {MAX_LINES} tokens (of {len(run.tokens[0])}): more would be unreadable.")
    p = run.rec.attention(layer, head, rows=slice(0, len(toks)))[:, : len(toks)]  # (n, n) of the first n tokens
    fig = token_lines(p, toks, threshold=threshold, title=_label(tag, layer, head))
    widgets.figure(fig, key=f"attn_lines{tag}", caption=CAPTIONS["lines"])


def _stats(tag, run: TextRun, layer, head) -> None:
    valid, special = torch.tensor(run.valid[0]), torch.tensor(run.special[0])
    names = sorted({t for t, s, v in zip(run.tokens[0], run.special[0], run.valid[0]) if s and v})
    for key, mat, fmt in attention_views.head_statistics(run.rec, valid, special, "/".join(names)):
        widgets.figure(
            layer_head_figure(mat, f"{tag + ': ' if tag else ''}{key}", fmt),
            key=f"attn_stat_{'_'.join(key.split()[:3])}{tag}",
        )
    st.caption(CAPTIONS["stats"])


def _collapse(tag, run: TextRun, layer, head) -> None:
    valid = torch.tensor(run.valid[0])
    sim = attention_views.collapse_similarity(run.rec, valid)  # (L, L)
    pooled = len(valid) > COLLAPSE_SIDE
    widgets.figure(
        collapse_figure(sim, title=f"{tag + ': ' if tag else ''}cross-layer similarity"),
        key=f"attn_collapse{tag}",
        caption=CAPTIONS["collapse"]
        + (f" Over {COLLAPSE_SIDE} tokens it compares {COLLAPSE_SIDE}² block-averaged maps." if pooled else ""),
    )


def _difference(runs, rows: slice = slice(None), cols: slice = slice(None)) -> None:
    if len(runs) != 2:
        return
    (_, ra, la, ha), (_, rb, lb, hb) = runs
    if len(ra.tokens[0]) != len(rb.tokens[0]):
        st.info(f"A − B needs the same number of tokens (A has {len(ra.tokens[0])}, B has {len(rb.tokens[0])}).")
        return
    pa = attention_views.head_region(ra.rec, la, ha, "probs", rows, cols)
    pb = attention_views.head_region(rb.rec, lb, hb, "probs", rows, cols)
    toks = ra.tokens[0]
    xl, yl = (pa.labels(toks, 1), pa.labels(toks, 0)) if pa.exact else (None, None)
    fig = difference_figure(pa.values, pb.values, xl, yl, "A − B (probabilities)")
    widgets.figure(fig, key="attn_diff", caption=CAPTIONS["diff"])
