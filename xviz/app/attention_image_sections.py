"""Attention page views for images: attention of CLS or a clicked patch overlaid on the image, the layer × head
overview, rollout, per-head statistics (distance, entropy, sinks), DeepViT collapse, export."""

from __future__ import annotations

import functools

import streamlit as st
import torch

from xviz.analysis.collapse import cross_layer_similarity
from xviz.analysis.head_stats import (
    head_entropy,
    high_norm_tokens,
    max_norm_ratio_per_layer,
    mean_attention_distance,
    norm_ratio,
    sink_tokens,
    token_norms,
)
from xviz.analysis.image_run import ImageRun
from xviz.analysis.rollout import FUSIONS, all_head_maps, attention_map, prefix_share, rollout_row, token_map
from xviz.app import widgets
from xviz.app.widgets import Q
from xviz.plots.attention import layer_head_figure
from xviz.plots.vision import (
    attention_figure,
    collapse_figure,
    difference_figure,
    mean_distance_figure,
    norm_ratio_figure,
    overview_image,
    patch_grid_figure,
)

CAPTIONS = {
    "map": "Where the query token looks: one row of softmax(QKᵀ/√d) laid over the patches (brighter = more). "
    "Click a patch to make it the query; CLS and register tokens are not on the grid (their share is "
    "given above).",
    "grid": "The model's input after its own resize / crop / padding, cut into patches; each patch is one token. "
    "Darkened patches are padding.",
    "overview": "The query's attention in every layer (rows) and head (columns), one composed image; each tile "
    "is scaled to its own maximum.",
    "rollout": "Attention rollout (Abnar & Zuidema 2020): Â = ½·A + ½·I per layer (the residual path), heads "
    "fused, each row renormalised, multiplied through the layers: how much each patch flows into the "
    "query at the top.",
    "distance": "Mean attention distance (ViT paper, Fig. 7): Σ_j a_ij·‖pos_i − pos_j‖ in pixels, averaged over "
    "query patches; one dot per head. Low = local heads, high = global ones.",
    "entropy": "Entropy of each head's attention rows in nats (low = focused on few tokens), averaged over queries.",
    "sinks": "Residual-stream norm of every token relative to the median patch (Darcet et al. 2023): patches "
    "far above the threshold are 'high-norm' tokens that tend to soak up attention (outlined in red).",
    "collapse": "DeepViT attention collapse: cosine similarity between the attention maps of two layers (per "
    "head and key column, averaged). Values near 1 off the diagonal mean deeper layers repeat "
    "earlier ones.",
    "diff": "A − B over a grey copy of the image: red where A attends more, blue where B does.",
    "ratio": "Per layer, the largest patch-token norm over the median one; layers above the dashed threshold "
    "carry high-norm tokens.",
}
TABS = ["Attention map", "Overview", "Rollout", "Statistics", "Collapse", "Export"]


def _on_click(chart_key: str) -> None:
    """Plotly selection callback (runs before the widgets): a clicked patch becomes the query."""
    sel = st.session_state.get(chart_key) or {}
    try:
        points = sel["selection"]["points"]
    except (KeyError, TypeError):
        return
    for p in points:
        cd = p.get("customdata") if isinstance(p, dict) else None
        if isinstance(cd, dict):  # a typed-array row may arrive as {"0": r, "1": c, ...}
            cd = [cd.get(k, cd.get(str(k))) for k in range(2)]
        try:
            row, col = int(cd[0]), int(cd[1])
        except (TypeError, ValueError, IndexError, KeyError):
            continue
        st.session_state["img_row"], st.session_state["img_col"] = row, col
        st.session_state["img_query"] = "Patch"
        return


def _query_controls(run: ImageRun) -> tuple[str, int, int]:
    gh, gw = run.grid
    for k, hi in (("img_row", gh - 1), ("img_col", gw - 1)):
        if st.session_state.get(k, 0) > hi:
            st.session_state[k] = hi  # a smaller grid after a size change
    c1, c2, c3 = st.columns([2, 1, 1])
    kind = c1.radio(
        "Query token",
        ["CLS", "Patch"],
        key="img_query",
        horizontal=True,
        bind=Q,
        help="Click a patch on the map, or type its row and column.",
    )
    row = c2.number_input("Patch row", 0, gh - 1, key="img_row", disabled=kind == "CLS", bind=Q)
    col = c3.number_input("Patch column", 0, gw - 1, key="img_col", disabled=kind == "CLS", bind=Q)
    return kind, int(row), int(col)


def _query_index(run: ImageRun, kind: str, row: int, col: int) -> int:
    gh, gw = run.grid
    return 0 if kind == "CLS" else run.num_prefix + min(row, gh - 1) * gw + min(col, gw - 1)


def _layer_head(run: ImageRun, suffix: str = "") -> tuple[int, int | None]:
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", range(run.num_layers), index=run.num_layers - 1, key=f"img_layer{suffix}", bind=Q)
    head = c2.selectbox(
        "Head",
        ["mean"] + list(range(run.num_heads)),
        key=f"img_head{suffix}",
        bind=Q,
        format_func=lambda h: "mean of heads" if h == "mean" else f"head {h}",
    )
    return layer, None if head == "mean" else int(head)


def render_image_views(run_a: ImageRun, run_b: ImageRun | None, compare: str, stem: str) -> None:
    layer, head = _layer_head(run_a)
    if compare == "Two layers/heads":
        st.caption("Second view (B):")
        lb, hb = _layer_head(run_a, "_b")
        runs = [("A", run_a, layer, head), ("B", run_a, lb, hb)]
    else:
        runs = [("A", run_a, layer, head)] + ([("B", run_b, layer, head)] if run_b is not None else [])
        runs = runs if len(runs) == 2 else [("", run_a, layer, head)]
    query = _query_controls(run_a)
    tabs = st.tabs(TABS, key="img_tab", on_change="rerun", bind=Q)
    opened = next((i for i, t in enumerate(tabs) if getattr(t, "open", False)), 0)
    with tabs[opened]:  # only the open tab runs
        [_tab_map, _tab_overview, _tab_rollout, _tab_stats, _tab_collapse, _tab_export][opened](runs, query, stem)


def _columns(runs, fn) -> list:
    out = []
    for col, item in zip(st.columns(len(runs)), runs):
        with col:
            out.append(fn(*item))
    return out


def _title(tag: str, text: str) -> str:
    return f"{tag}: {text}" if tag else text


def _selected(run: ImageRun, query) -> tuple[int, int] | None:
    kind, row, col = query
    return None if kind == "CLS" else (min(row, run.grid[0] - 1), min(col, run.grid[1] - 1))


def _tab_map(runs, query, stem) -> None:
    robust = st.toggle(
        "Clip colours at the 99th percentile",
        key="img_robust",
        bind=Q,
        help="One very bright sink patch can wash out every other patch.",
    )

    def one(tag, run: ImageRun, layer, head):
        q = _query_index(run, *query)
        amap = attention_map(run.probs()[layer].float(), q, head, run.num_prefix, run.grid)
        who = "CLS" if q == 0 else f"patch {_selected(run, query)}"
        hd = "mean of heads" if head is None else f"head {head}"
        share = prefix_share(
            run.probs()[layer, :, q].float().mean(0) if head is None else run.probs()[layer, head, q].float(),
            run.num_prefix,
        )
        st.caption(
            f"{len(run.labels) - run.num_prefix} patches; this row gives {share:.0%} of its attention "
            "to CLS/registers (not drawn)."
        )
        key = f"img_map{tag}"
        widgets.figure(
            attention_figure(
                run.image,
                amap,
                run.patch_size,
                _title(tag, f"{who} → patches, layer {layer}, {hd}"),
                selected=_selected(run, query),
                valid=run.valid,
                robust=robust,
            ),
            key=key,
            caption=CAPTIONS["map"],
            on_select=functools.partial(_on_click, key),
        )
        return run, amap

    results = _columns(runs, one)
    _difference(results)


def _difference(results) -> None:
    if len(results) != 2:
        return
    (ra, a), (rb, b) = results
    if a.shape != b.shape:
        st.info(f"A − B needs the same patch grid (A is {tuple(a.shape)}, B is {tuple(b.shape)}).")
        return
    widgets.figure(
        difference_figure(ra.image, a, b, ra.patch_size, "A − B", valid=ra.valid),
        key="img_diff",
        caption=CAPTIONS["diff"],
    )


def _tab_overview(runs, query, stem) -> None:
    def one(tag, run: ImageRun, layer, head):
        prefix = ", ".join(run.labels[: run.num_prefix])
        st.caption(
            f"Input {run.image.size[0]} × {run.image.size[1]} px → {run.grid[0]} × {run.grid[1]} patches "
            f"of {run.patch_size} px, plus {run.num_prefix} prefix token(s): {prefix}."
        )
        widgets.figure(
            patch_grid_figure(
                run.image,
                run.grid,
                run.patch_size,
                _title(tag, "patch grid"),
                _selected(run, query),
                run.valid,
                height=420,
            ),
            key=f"img_grid{tag}",
            caption=CAPTIONS["grid"],
        )
        maps = all_head_maps(run.probs(), _query_index(run, *query), run.num_prefix, run.grid)
        widgets.figure(
            overview_image(run.image, maps, run.patch_size, title=_title(tag, "all layers × heads"), valid=run.valid),
            key=f"img_overview{tag}",
            caption=CAPTIONS["overview"],
        )

    _columns(runs if compare_images(runs) else runs[:1], one)


def _tab_rollout(runs, query, stem) -> None:
    c1, c2 = st.columns(2)
    fusion = c1.radio("Head fusion", FUSIONS, key="img_fusion", horizontal=True, bind=Q)
    depth = c2.slider("Through layer", 1, runs[0][1].num_layers, runs[0][1].num_layers, key="img_depth", bind=Q)

    def one(tag, run: ImageRun, layer, head):
        q = _query_index(run, *query)
        row = rollout_row(run.probs(), q, fusion, 0.5, min(depth, run.num_layers))
        amap = token_map(row, run.num_prefix, run.grid)
        widgets.figure(
            attention_figure(
                run.image,
                amap,
                run.patch_size,
                _title(tag, f"rollout into {'CLS' if q == 0 else 'the patch'}, layers 0–{depth - 1}, {fusion}"),
                selected=_selected(run, query),
                valid=run.valid,
                robust=True,
                value_name="rollout",
            ),
            key=f"img_rollout{tag}",
            caption=CAPTIONS["rollout"],
        )
        return run, amap

    _difference(_columns(runs if compare_images(runs) else runs[:1], one))


def compare_images(runs) -> bool:
    return len(runs) == 2 and runs[0][1] is not runs[1][1]


@st.cache_data(max_entries=8, show_spinner="Computing per-head statistics…")
def _stats(_run: ImageRun, key: str) -> dict:
    probs = _run.probs()
    valid = torch.as_tensor(_run.valid)
    return {
        "mad": mean_attention_distance(probs, _run.grid, _run.patch_size, _run.num_prefix, valid),
        "entropy": torch.stack([head_entropy(probs[i].float()) for i in range(probs.shape[0])]),
        "ratio": max_norm_ratio_per_layer(_run.resids(), _run.num_prefix),
    }


def _tab_stats(runs, query, stem) -> None:
    factor = st.slider("High-norm threshold (× median patch norm)", 1.5, 10.0, 2.0, 0.5, key="img_factor", bind=Q)

    def one(tag, run: ImageRun, layer, head):
        s = _stats(run, run.key)
        side = max(run.image.size)
        widgets.figure(
            mean_distance_figure(s["mad"], side, _title(tag, "mean attention distance")),
            key=f"img_mad{tag}",
            caption=CAPTIONS["distance"],
        )
        widgets.figure(
            layer_head_figure(s["entropy"], _title(tag, "entropy (nats)")),
            key=f"img_ent{tag}",
            caption=CAPTIONS["entropy"],
        )
        norms = token_norms(run.rec["resid_post", layer])
        flagged = high_norm_tokens(norms, run.num_prefix, factor)
        sinks = sink_tokens(run.probs()[layer].float())
        names = ", ".join(run.labels[i] for i in sinks) or "none"
        st.markdown(
            f"**Layer {layer}:** {len(flagged)} high-norm patch token(s) above {factor:g}× the median; "
            f"tokens receiving > 10× the uniform share of attention: {names}."
        )
        ratio = token_map(norm_ratio(norms, run.num_prefix), run.num_prefix, run.grid)
        fig = attention_figure(
            run.image,
            ratio,
            run.patch_size,
            _title(tag, f"‖x‖ / median, layer {layer}"),
            valid=run.valid,
            value_name="norm ratio",
        )
        gw = run.grid[1]
        for i in flagged:
            r, c = divmod(i - run.num_prefix, gw)
            fig.add_shape(
                type="rect",
                x0=c * run.patch_size,
                x1=(c + 1) * run.patch_size,
                y0=r * run.patch_size,
                y1=(r + 1) * run.patch_size,
                line=dict(color="#ff2d55", width=2),
            )
        widgets.figure(fig, key=f"img_norms{tag}", caption=CAPTIONS["sinks"])
        widgets.figure(
            norm_ratio_figure(s["ratio"], factor, _title(tag, "largest patch norm per layer")),
            key=f"img_ratio{tag}",
            caption=CAPTIONS["ratio"],
        )

    _columns(runs if compare_images(runs) else runs[:1], one)


@st.cache_data(max_entries=8, show_spinner="Comparing every pair of layers…")
def _collapse(_run: ImageRun, key: str) -> torch.Tensor:
    return cross_layer_similarity(_run.probs())


def _tab_collapse(runs, query, stem) -> None:
    def one(tag, run: ImageRun, layer, head):
        widgets.figure(
            collapse_figure(_collapse(run, run.key), _title(tag, "cross-layer attention similarity")),
            key=f"img_collapse{tag}",
            caption=CAPTIONS["collapse"],
        )

    _columns(runs if compare_images(runs) else runs[:1], one)


def _tab_export(runs, query, stem) -> None:
    for tag, run, _, _ in runs if compare_images(runs) else runs[:1]:
        st.markdown(f"**Recording {tag or 'A'}** — {len(run.rec)} tensors, {run.rec.nbytes() / 2**20:.1f} MiB")
        widgets.recording_downloads(run.rec, f"xviz-{stem}-image-{tag or 'A'}", key=f"img_export{tag}")
