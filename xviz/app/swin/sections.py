"""Render helpers of the Swin-windows page: shared controls, then one function per section
(widgets → xviz.analysis / xviz.layers → one figure builder)."""

from __future__ import annotations

import streamlit as st

from xviz.analysis import swin_cost, swin_geometry
from xviz.app import state
from xviz.app.swin.common import Ctx, pick, untrained_note
from xviz.app.widgets import Q, figure
from xviz.layers.windows import relative_position_bias, relative_position_index
from xviz.plots import swin_geometry as swin_geometry_plots
from xviz.plots import swin_model as swin_model_plots


def windows_section(c: Ctx) -> None:
    a, b = st.columns(2)
    with a:
        figure(
            swin_geometry_plots.window_grid_figure(c.pic, c.q, c.M, 0, "W-MSA: regular windows"),
            "swin_grid_w",
            caption=f"Thin lines: the {c.H}×{c.W} token (patch) grid; yellow: {c.M}×{c.M} windows. "
            "W-MSA layers attend only inside each window.",
        )
    with b:
        figure(
            swin_geometry_plots.window_grid_figure(c.pic, c.q, c.M, c.s, f"SW-MSA: windows shifted by {c.s}"),
            "swin_grid_sw",
            caption="The next layer moves the partition by s tokens, so its windows straddle the previous "
            "layer's borders; the pieces at the edges wrap around (next section).",
        )


def shift_section(c: Ctx) -> None:
    steps = swin_geometry.shift_steps(c.pic, c.q, c.M, c.s)
    masked = int((steps.regions_per_window > 1).sum())
    n = steps.regions_per_window.numel()
    st.markdown(f"**{n} windows, {masked} of them masked** (effective M = {steps.M}, s = {steps.shift}).")
    figure(
        swin_geometry_plots.shift_steps_figure(steps, c.q),
        "swin_steps",
        caption="Rolling by (−s, −s) moves the top rows and left columns to the bottom and right, so the "
        "shifted partition again has whole M×M windows (no padding, same window count). Tokens from "
        "different regions (3) are not neighbours in the image: windows holding 2 or 4 regions "
        "(4, coloured) are masked, and rolling by (+s, +s) afterwards puts every token back "
        "(5, cyan windows).",
    )


def mask_section(c: Ctx) -> None:
    steps = swin_geometry.shift_steps(c.pic, c.q, c.M, c.s)
    n_win = steps.regions_per_window.numel()
    idx = pick(
        st,
        "Window",
        n_win,
        n_win - 1,
        "swin_win",
        help="Row-major index in the rolled map; the last one (bottom-right) holds four regions.",
    )
    detail = swin_geometry.window_detail(c.H, c.W, c.M, c.s, idx)
    figure(
        swin_geometry_plots.window_mask_figure(detail, swin_geometry.window_crop(steps.rolled, c.q, detail.M, idx)),
        "swin_mask",
        caption="Dark = may attend. A pair is allowed only when both tokens carry the same region label "
        "(official Swin adds −100 to the others; xviz uses the boolean form). In W-MSA layers the "
        "mask is all dark.",
    )


def relpos_section(c: Ctx) -> None:
    idx = relative_position_index(c.M)
    a, b = st.columns([3, 2])
    with a:
        figure(
            swin_model_plots.rel_index_figure(idx, f"Relative position index, M = {c.M}"),
            "swin_relidx",
            caption="Equal values = equal offset (Δrow, Δcol): a block-Toeplitz matrix.",
        )
    n, t = c.M**2, (2 * c.M - 1) ** 2
    b.markdown(
        f"index(i, j) = (Δrow + M − 1)·(2M − 1) + (Δcol + M − 1), Δ = coord_i − coord_j.\n\n"
        f"The {n}×{n} = {n * n} query–key pairs of a window read only **{t}** learned biases per head "
        f"(offsets −{c.M - 1}…{c.M - 1} on each axis); Δ = (0, 0) is row {t // 2}, the table's centre. "
        f"The same bias is added in every window, shifted or not."
    )
    model = state.get_model("swin")
    untrained_note()
    a, b = st.columns(2)
    blk = pick(a, "Block", len(model.blocks), 0, "swin_bias_block")
    table = model.blocks[blk].rel_bias.table.detach().cpu()
    head = pick(b, "Head", table.shape[1], 0, "swin_bias_head")
    a, b = st.columns(2)
    with a:
        figure(
            swin_model_plots.bias_table_figure(
                table, head, f"{state.model_name('swin')}: table, block {blk}, head {head}"
            ),
            "swin_table",
            caption="The table laid out by offset: the centre is Δ = (0, 0).",
        )
    with b:
        M = model.blocks[blk].window_size
        bias = relative_position_bias(table, relative_position_index(M))[head]
        figure(
            swin_model_plots.gathered_bias_figure(bias, f"B = table[index], {M**2}×{M**2}"),
            "swin_bias",
            caption="What is added to every window's QKᵀ/√d of this head (the model's own M).",
        )


def rf_section(c: Ctx) -> None:
    a, b, d = st.columns(3)
    r = pick(a, "Token row", c.H, c.H // 2, "swin_rf_r")
    col = pick(b, "Token column", c.W, c.W // 2, "swin_rf_c")
    k = d.slider("Layers k", 0, 10, 2, key="swin_rf_k", bind=Q)
    field = swin_cost.receptive_field(c.H, c.W, c.M, (r, col), k, shift=c.s)
    x, y = st.columns([3, 2])
    with x:
        figure(
            swin_geometry_plots.receptive_field_figure(
                c.pic,
                c.q,
                field,
                (r, col),
                k,
                c.M,
                f"{int((field >= 0).sum())} tokens reach ({r}, {col}) after {k} layers",
            ),
            "swin_rf",
            caption="Colour = number of layers after which a position can influence the token "
            "(layer 1 is W-MSA, then SW-MSA, W-MSA, …), composed from the actual windows and "
            "masks; within one stage (no patch merging).",
        )
    with y:
        figure(
            swin_geometry_plots.rf_growth_figure(
                swin_cost.receptive_field_sizes(c.H, c.W, c.M, (r, col), max(k, 4), c.s)
            ),
            "swin_rf_growth",
            caption="Without the shift, information never leaves its window.",
        )


def cost_section(c: Ctx) -> None:
    a, b = st.columns(2)
    ch = a.select_slider("Channels C", [48, 96, 128, 192, 384], 96, key="swin_C", bind=Q)
    patch = b.select_slider("Patch size (px)", [2, 4, 8, 16], 4, key="swin_patch", bind=Q)
    rows = swin_cost.cost_curve([2**i for i in range(5, 13)] + [c.H * patch], patch, ch, c.M)
    rows = sorted({r["image_px"]: r for r in rows}.values(), key=lambda r: r["image_px"])
    cur = next(r for r in rows if r["image_px"] == c.H * patch)
    st.markdown(
        f"At {c.H * patch} px ({cur['tokens']} tokens): global attention costs **{cur['ratio']:.1f}×** "
        f"window attention ({cur['msa']:.3g} vs {cur['wmsa']:.3g} FLOPs)."
    )
    figure(
        swin_model_plots.cost_figure(rows, c.H * patch),
        "swin_cost",
        caption="Ω(MSA) = 4hwC² + 2(hw)²C grows with the square of the token count, Ω(W-MSA) = 4hwC² + "
        "2M²hwC linearly (Liu et al. 2021, Eq. 1–2); log-log axes.",
    )
