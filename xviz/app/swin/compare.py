"""Swin page, comparison sections: real attention in a window (W-MSA vs SW-MSA) and two window sizes."""

from __future__ import annotations

import streamlit as st

from xviz.analysis import swin_cost, swin_geometry
from xviz.app import state
from xviz.app.swin.common import Ctx, pick, untrained_note
from xviz.app.widgets import Q, figure
from xviz.plots import swin_geometry as swin_geometry_plots
from xviz.plots import swin_model as swin_model_plots


def attention_section(c: Ctx) -> None:
    model = state.get_model("swin")
    untrained_note()
    pairs = swin_geometry.stage_pairs(model)
    if not pairs:
        st.info("This model has no W-MSA / SW-MSA block pair.")
        return
    a, b, d, e = st.columns(4)
    pair = a.selectbox(
        "Blocks",
        pairs,
        key="swin_pair",
        bind=Q,
        format_func=lambda p: f"stage {p[0] + 1}: {p[1]} (W-MSA) / {p[2]} (SW-MSA)",
    )
    heads = model.blocks[pair[1]].attn.num_heads
    head = pick(b, "Head", heads, 0, "swin_att_head")
    batch = model.prepare(c.image)
    probs = swin_geometry.record_window_probs(model, batch, [pair[1], pair[2]])
    n_win = probs[pair[1]].shape[0]
    win = pick(d, "Window", n_win, n_win - 1, "swin_att_win")
    m2 = probs[pair[1]].shape[-1]
    query = pick(e, "Query token in window", m2, m2 // 2, "swin_att_q")
    cols = st.columns(2)
    for col, blk, kind in zip(cols, pair[1:], ["W-MSA", "SW-MSA"]):
        wa = swin_geometry.window_attention(model, probs[blk], blk, win)
        with col:
            figure(
                swin_model_plots.window_attention_figure(
                    batch.array,
                    wa,
                    head,
                    query,
                    swin_geometry.window_pixels(batch.array, wa),
                    f"block {blk} ({kind}, shift {wa.shift}): query {query}",
                ),
                f"swin_att_img_{kind}",
                caption=f"Where query {query} of window {win} looks (head {head}), on "
                f"the {wa.grid[0]}×{wa.grid[1]} map; other pixels dimmed.",
            )
            figure(
                swin_model_plots.window_probs_figure(wa, head, f"block {blk}: window {win}, head {head}"),
                f"swin_att_mat_{kind}",
                caption="Rows = queries, columns = keys of this window; masked SW-MSA pairs are exactly 0.",
            )


def sizes_section(c: Ctx) -> None:
    other = 4 if c.M != 4 else 7
    m2 = st.slider("Second window size", 2, 12, other, key="swin_M2", bind=Q)
    cols = st.columns(2)
    for i, (col, M, s) in enumerate(zip(cols, [c.M, m2], [c.s, m2 // 2])):
        H, W = max(1, round(c.H / M)) * M, max(1, round(c.W / M)) * M
        pic, q = swin_geometry.grid_image(c.image, H, W)
        steps = swin_geometry.shift_steps(pic, q, M, s)
        masked = int((steps.regions_per_window > 1).sum())
        with col:
            figure(
                swin_geometry_plots.window_grid_figure(
                    pic, q, M, s, f"M = {M}, s = {s}: {H}×{W} tokens", patches=False, both=True
                ),
                f"swin_size_grid_{i}",
                caption=f"{steps.regions_per_window.numel()} windows, {masked} masked after the shift; "
                f"Ω(W-MSA) = {swin_cost.wmsa_flops(H, W, 96, M):.3g} FLOPs at C = 96.",
            )
            rows = swin_cost.receptive_field_sizes(H, W, M, (H // 2, W // 2), 6, s)
            figure(
                swin_geometry_plots.rf_growth_figure(rows, f"receptive field of the centre token, M = {M}"),
                f"swin_size_rf_{i}",
                caption="Bigger windows see more per layer and cost more per token (2M²C in Ω).",
            )
