"""Attention page sections for images: attention of CLS or a clicked patch overlaid on the image, the layer × head
overview, rollout; the tab switch. Statistics, collapse and export: attention_image_stats.py."""

from __future__ import annotations

import functools

import streamlit as st

from xviz.analysis.image_run import ImageRun
from xviz.analysis.rollout import FUSIONS, all_head_maps, attention_map, prefix_share, rollout_row, token_map
from xviz.app import widgets
from xviz.app.attention import image_stats as stats
from xviz.app.attention.image_stats import compare_images, in_columns, titled
from xviz.app.widgets import Q
from xviz.plots.vision import attention_figure, difference_figure, overview_image, patch_grid_figure

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
    "diff": "A − B over a grey copy of the image: red where A attends more, blue where B does.",
}


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
    options = ["CLS", "Patch"] if run.num_prefix else ["Patch"]  # SigLIP pools patches: it has no CLS token
    if st.session_state.get("img_query", options[0]) not in options:  # "CLS" from a link, on a model without one
        st.session_state["img_query"] = options[0]
    c1, c2, c3 = st.columns([2, 1, 1])
    kind = c1.radio(
        "Query token",
        options,
        key="img_query",
        horizontal=True,
        bind=Q,
        help="Click a patch on the map, or type its row and column."
        + ("" if run.num_prefix else " This model has no CLS token: every query is a patch."),
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
    tabs = {
        "Attention map": _tab_map,
        "Overview": _tab_overview,
        "Rollout": _tab_rollout,
        "Statistics": stats.tab_stats,
        "Collapse": stats.tab_collapse,
        "Export": stats.tab_export,
    }
    widgets.lazy_tabs(tabs, "img_tab", runs, query, stem)


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
        who = "CLS" if query[0] == "CLS" else f"patch {_selected(run, query)}"
        hd = "mean of heads" if head is None else f"head {head}"
        share = prefix_share(
            run.probs()[layer, :, q].float().mean(0) if head is None else run.probs()[layer, head, q].float(),
            run.num_prefix,
        )
        st.caption(
            f"{len(run.labels) - run.num_prefix} patches; this row gives {share:.0%} of its attention "
            "to CLS/registers (not drawn)."
            if run.num_prefix
            else f"{len(run.labels)} patches and no CLS token (the model pools its patches): every key is drawn."
        )
        key = f"img_map{tag}"
        widgets.figure(
            attention_figure(
                run.image,
                amap,
                run.patch_size,
                titled(tag, f"{who} → patches, layer {layer}, {hd}"),
                selected=_selected(run, query),
                valid=run.valid,
                robust=robust,
            ),
            key=key,
            caption=CAPTIONS["map"],
            on_select=functools.partial(_on_click, key),
        )
        return run, amap

    results = in_columns(runs, one)
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
                titled(tag, "patch grid"),
                _selected(run, query),
                run.valid,
                height=420,
            ),
            key=f"img_grid{tag}",
            caption=CAPTIONS["grid"],
        )
        maps = all_head_maps(run.probs(), _query_index(run, *query), run.num_prefix, run.grid)
        widgets.figure(
            overview_image(run.image, maps, run.patch_size, title=titled(tag, "all layers × heads"), valid=run.valid),
            key=f"img_overview{tag}",
            caption=CAPTIONS["overview"],
        )

    in_columns(runs if compare_images(runs) else runs[:1], one)


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
                titled(
                    tag, f"rollout into {'CLS' if query[0] == 'CLS' else 'the patch'}, layers 0–{depth - 1}, {fusion}"
                ),
                selected=_selected(run, query),
                valid=run.valid,
                robust=True,
                value_name="rollout",
            ),
            key=f"img_rollout{tag}",
            caption=CAPTIONS["rollout"],
        )
        return run, amap

    _difference(in_columns(runs if compare_images(runs) else runs[:1], one))
