"""Attention page views (text): overview grid, one head in detail, neuron view, lines, statistics, export.
Selections (layer, head, query) are shared by A and B so compare mode stays synchronised, except in "Two models"
(each model has its own layers and heads). Padding and special tokens come from the run (attention mask and
the batch's `special` flags), never from token strings; under GQA k/v are those of the KV head serving the head."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis.attention_stats import head_output_norms, head_stat_maps, masked_as_nan, neuron_view
from xviz.analysis.collapse import cross_layer_similarity
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
from xviz.plots.style import PROB_SCALE, SIGNED_SCALE
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
    _columns(runs, _head)
    if compare != "Two models":  # two tokenisations: no cell-by-cell difference
        _difference(runs)


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
    probs = run.probs()  # (L, H, N, N)
    widgets.figure(
        overview_grid(probs, title=f"{tag + ': ' if tag else ''}all layers × heads"),
        key=f"attn_overview{tag}",
        caption=CAPTIONS["overview"],
    )


def _head(tag, run: TextRun, layer, head) -> None:
    toks = run.tokens[0]
    p = run.rec["probs", layer][0, head]
    if run.is_causal:
        st.caption(CAPTIONS["causal"].format(float(p.float().triu(1).max()) if p.shape[-1] > 1 else 0.0))
    scale = gamma_colorscale(PROB_SCALE, 0.5) if st.session_state.get("attn_sqrt") else PROB_SCALE
    widgets.figure(
        heatmap(
            p,
            toks,
            toks,
            title=f"Probabilities — {_label(tag, layer, head)}",
            zmin=0.0,
            value_name="p",
            colorscale=scale,
        ),
        key=f"attn_probs{tag}",
        caption=CAPTIONS["probs"],
    )
    s = masked_as_nan(run.rec["scores", layer][0, head])
    widgets.figure(
        heatmap(
            s,
            toks,
            toks,
            title=f"Scores before softmax — {_label(tag, layer, head)}",
            colorscale=SIGNED_SCALE,
            zmid=0.0,
            value_name="score",
        ),
        key=f"attn_scores{tag}",
        caption=CAPTIONS["scores"],
    )


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
    fig = neuron_view_figure(
        prod, dots, run.rec["probs", layer][0, head, qi], toks, toks[qi], title=_label(tag, layer, head)
    )
    widgets.figure(fig, key=f"attn_neuron{tag}", caption=CAPTIONS["neuron"])


def _lines(tag, run: TextRun, layer, head, threshold) -> None:
    toks = run.tokens[0]
    fig = token_lines(run.rec["probs", layer][0, head], toks, threshold=threshold, title=_label(tag, layer, head))
    widgets.figure(fig, key=f"attn_lines{tag}", caption=CAPTIONS["lines"])


def _stats(tag, run: TextRun, layer, head) -> None:
    probs = run.probs()  # (L, H, N, N)
    valid, special = torch.tensor(run.valid[0]), torch.tensor(run.special[0])
    names = sorted({t for t, s, v in zip(run.tokens[0], run.special[0], run.valid[0]) if s and v})
    for key, mat, fmt in head_stat_maps(probs, valid, special, "/".join(names)):
        widgets.figure(
            layer_head_figure(mat, f"{tag + ': ' if tag else ''}{key}", fmt),
            key=f"attn_stat_{'_'.join(key.split()[:3])}{tag}",
        )
    st.caption(CAPTIONS["stats"])


def _collapse(tag, run: TextRun, layer, head) -> None:
    valid = torch.tensor(run.valid[0])
    sim = cross_layer_similarity(run.probs(), valid)  # (L, H, N, N) → (L, L)
    widgets.figure(
        collapse_figure(sim, title=f"{tag + ': ' if tag else ''}cross-layer similarity"),
        key=f"attn_collapse{tag}",
        caption=CAPTIONS["collapse"],
    )


def _difference(runs) -> None:
    if len(runs) != 2:
        return
    (_, ra, la, ha), (_, rb, lb, hb) = runs
    pa, pb = ra.rec["probs", la][0, ha], rb.rec["probs", lb][0, hb]
    if pa.shape != pb.shape:
        st.info(f"A − B needs the same number of tokens (A has {pa.shape[-1]}, B has {pb.shape[-1]}).")
        return
    fig = difference_figure(pa, pb, ra.tokens[0], ra.tokens[0], "A − B (probabilities)")
    widgets.figure(fig, key="attn_diff", caption=CAPTIONS["diff"])
