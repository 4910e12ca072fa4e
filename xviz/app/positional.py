"""Render helpers of the Positional-encoding page (one function per section: widgets → xviz → figure)."""

from __future__ import annotations

import streamlit as st

from xviz.analysis import positional
from xviz.app import state
from xviz.app.widgets import Q, figure
from xviz.errors import XvizError
from xviz.layers import pos_embed
from xviz.plots import positional as pos_plots
from xviz.plots import positional_rel as rel_plots
from xviz.plots.swin_model import bias_table_figure, gathered_bias_figure


def sinusoidal_section() -> None:
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Positions", 4, 512, 50, key="pe_n", bind=Q)
    dim = c2.slider("Dimension", 8, 512, 128, step=8, key="pe_dim", bind=Q)
    sim_kind = c3.radio("Similarity", ["dot", "cosine"], horizontal=True, key="pe_sim", bind=Q)
    figure(
        pos_plots.pe_heatmap(
            pos_embed.sinusoidal(n, dim), pos_embed.wavelengths(dim), f"Sinusoidal encoding, {n} × {dim}"
        ),
        "pe_heat",
        caption="PE[p, 2i] = sin(p·ωᵢ), PE[p, 2i+1] = cos(p·ωᵢ), ωᵢ = 10000^(−2i/d) (Vaswani et al. 2017, "
        "§3.5); the wavelengths 2π/ωᵢ grow geometrically from 2π to 10000·2π.",
    )
    sim = positional.similarity(pos_embed.sinusoidal(n, dim), sim_kind)
    a, b = st.columns(2)
    with a:
        figure(
            pos_plots.similarity_figure(sim, f"{sim_kind} similarity of positions"),
            "pe_sim_mat",
            caption="Every pair of positions (i, j): the value depends only on the offset |i − j|, so it is the "
            "same along every diagonal.",
        )
    with b:
        formula = (
            positional.sinusoidal_dot_formula(positional.offset_curve(sim).offsets, dim) if sim_kind == "dot" else None
        )
        figure(
            pos_plots.offset_figure({"sinusoidal": positional.offset_curve(sim)}, formula),
            "pe_offset",
            caption="The band (min–max over p) has zero width: the similarity depends only on the offset k.",
        )
    k = st.slider("Shift k for PE(p+k) = M_k·PE(p)", 1, 100, 5, key="pe_k", bind=Q)
    check = positional.transform_check(n, dim, k)
    st.metric(f"max |M_{k}·PE(p) − PE(p+{k})| over {n} positions", f"{check.max_error:.2e}")
    figure(
        pos_plots.transform_figure(check),
        "pe_mk",
        caption="M_k is block-diagonal: one 2×2 rotation by ωᵢ·k per "
        "sin/cos pair, the same for every p — a linear map, so attention can learn relative offsets.",
    )


def learned_section() -> None:
    text = state.get_model("text")
    lt = positional.find_position_table(text)
    if lt is None:
        st.info(f"{state.model_name('text')} has no learned position table.")
    else:
        st.subheader(f"{state.model_name('text')}: `{lt.name}` {tuple(lt.table.shape)}")
        figure(
            pos_plots.table_figure(lt.table, "Learned position embeddings"),
            "pe_learned_table",
            caption="The trained table itself (position × channel; colours clipped at the 99th percentile of "
            "|value|) and each row's L2 norm.",
        )
        n = st.slider("Positions compared", 8, lt.table.shape[0], min(128, lt.table.shape[0]), key="pe_ln", bind=Q)
        sim = positional.similarity(lt.table[:n], "cosine")
        a, b = st.columns(2)
        with a:
            figure(
                pos_plots.similarity_figure(sim, "cosine similarity of learned positions"),
                "pe_learned_sim",
                caption="Neighbouring positions learned similar vectors: a band along the diagonal.",
            )
        with b:
            figure(
                pos_plots.offset_figure({"learned": positional.offset_curve(sim, 64)}),
                "pe_learned_offset",
                caption="Unlike the sinusoidal table, the band is wide: learned similarity is not a function "
                "of the offset alone.",
            )
    vision_section()


def vision_section() -> None:
    st.subheader("Patch-grid table of the image model")
    name = state.model_name("image")
    if not name:
        st.info("No image model is available: the patch-grid similarity (ViT paper, Fig. 7) appears here once one is.")
        return
    try:
        model = state.load_model_cached(name, str(state.device()))
    except XvizError as err:
        st.warning(f"The image model could not be loaded: {err}")
        return
    lt = positional.find_position_table(model)
    if lt is None or lt.grid is None:
        st.info(f"{name} has no learned patch-grid position table (`pos_embed`).")
        return
    h, w = lt.grid
    note = state.model_note(name)
    st.caption(
        f"{name}: `{lt.name}`, {h} × {w} patch grid (+{lt.prefix} prefix row(s) set aside)."
        + (f" Model: {note}" if note else "")
    )
    sim4 = positional.grid_similarity(lt.table, lt.grid)
    stride = st.slider("Show every k-th patch as a tile", 1, max(1, h // 2), max(1, h // 10), key="pe_stride", bind=Q)
    figure(
        pos_plots.mosaic_figure(
            positional.grid_mosaic(sim4, stride), "Cosine similarity of each patch position to all others"
        ),
        "pe_mosaic",
        caption="As in the ViT paper: tile (r, c) shows how similar the position embedding of "
        "patch (r, c) is to every other patch's; nearby patches are alike, rows and "
        "columns too.",
    )
    c1, c2 = st.columns(2)
    r = c1.slider("Patch row", 0, h - 1, h // 2, key="pe_pr", bind=Q)
    c = c2.slider("Patch column", 0, w - 1, w // 4, key="pe_pc", bind=Q)
    figure(
        pos_plots.grid_maps_figure({f"patch ({r}, {c})": sim4[r, c]}, "Similarity of one patch position"),
        "pe_patch",
        caption="One tile of the mosaic, large: cosine similarity of the chosen patch's position embedding to "
        "every other patch's.",
    )


def sincos2d_section() -> None:
    c1, c2, c3, c4 = st.columns(4)
    gh = c1.slider("Grid rows", 2, 32, 14, key="pe_gh", bind=Q)
    gw = c2.slider("Grid columns", 2, 32, 14, key="pe_gw", bind=Q)
    dim = c3.slider("Dimension", 8, 256, 64, step=4, key="pe_d2", bind=Q)
    cls = c4.checkbox("CLS token (row of zeros)", True, key="pe_cls", bind=Q)
    pe = pos_embed.sincos_2d(gh, gw, dim, cls_token=cls)
    st.caption(f"Table shape {tuple(pe.shape)}; row 0 {'is the CLS row of zeros' if cls else 'is patch (0, 0)'}.")
    figure(
        pos_plots.table_heatmap(pe, "2-D sin-cos table (tokens × channels)"),
        "pe_2d_table",
        caption="The fixed table added to the patch embeddings (MAE's sincos_2d): one row per token.",
    )
    body = pe[1:] if cls else pe
    q = dim // 4
    maps = {f"ch {ch}": body[:, ch].reshape(gh, gw) for ch in (1, q + 1, 2 * q + 1, 3 * q + 1)}  # (h·w,) → (h, w)
    figure(
        pos_plots.grid_maps_figure(maps, "Channels over the grid"),
        "pe_2d_maps",
        caption="MAE layout: channels [0, D/2) encode the COLUMN (sin | cos), [D/2, D) the ROW; tokens are "
        "row-major. The first maps vary along x, the last along y.",
    )
    c1, c2 = st.columns(2)
    r = c1.slider("Patch row", 0, gh - 1, gh // 2, key="pe_2r", bind=Q)
    c = c2.slider("Patch column", 0, gw - 1, gw // 2, key="pe_2c", bind=Q)
    sim = positional.similarity(body, "cosine")[r * gw + c].reshape(gh, gw)  # (h·w,) → (h, w)
    figure(
        pos_plots.grid_maps_figure({f"patch ({r}, {c})": sim}, "Cosine similarity to one patch", signed=False),
        "pe_2d_sim",
        caption="All positive (the cos halves add a constant share): colours span the own range.",
    )


def relative_section() -> None:
    st.subheader("RoPE (Su et al. 2021)")
    c1, c2, c3, c4 = st.columns(4)
    n = c1.slider("Positions", 4, 128, 32, key="pe_rn", bind=Q)
    dim = c2.slider("Head dim", 4, 128, 32, step=2, key="pe_rd", bind=Q)
    seed = c3.number_input("Seed", 0, 10_000, 0, key="pe_rs", bind=Q)
    inter = c4.radio("Pairs", ["interleaved", "halves"], key="pe_ri", bind=Q) == "interleaved"
    demo = positional.rope_demo(n, dim, seed=int(seed), interleaved=inter)
    st.metric("max spread along one diagonal (same offset, different positions)", f"{demo.offset_spread:.1e}")
    figure(
        rel_plots.rope_figure(demo),
        "pe_rope",
        caption="q and k are rotated pair-wise by θᵢ·position; "
        "⟨R_m q, R_n k⟩ = ⟨q, R_(n−m) k⟩, so the score depends only on the offset n − m.",
    )
    st.subheader("ALiBi (Press et al. 2022)")
    c1, c2 = st.columns(2)
    heads = c1.slider("Heads", 1, 16, 8, key="pe_ah", bind=Q)
    n_a = c2.slider("Sequence length", 4, 64, 16, key="pe_an", bind=Q)
    slopes, bias = positional.alibi(heads, n_a)
    st.caption("Slopes: " + ", ".join(f"{float(s):.4g}" for s in slopes))
    figure(
        rel_plots.alibi_figure(slopes, bias),
        "pe_alibi",
        caption="No position vectors at all: each head adds −m_h·|i − j| to its scores, with geometric slopes "
        "(8 heads: 1/2, 1/4, …, 1/256), so some heads look far and others near.",
    )
    swin_bias_section()


def swin_bias_section() -> None:

    st.subheader("Swin relative position bias (Liu et al. 2021)")
    name = state.model_name("swin")
    try:
        found = (
            positional.find_relative_bias_table(state.load_model_cached(name, str(state.device()))) if name else None
        )
    except XvizError as err:
        st.warning(f"The Swin model could not be loaded: {err}")
        return
    if found is None:
        st.info("No Swin model with a relative-position bias table is available.")
        return
    pname, table, M = found
    st.caption(
        f"{name}: `{pname}` {tuple(table.shape)} = ((2M−1)², heads), M = {M}. {state.model_note(name) or ''} "
        "More on the Swin windows page."
    )
    head = st.slider("Head", 0, table.shape[1] - 1, 0, key="pe_sh", bind=Q)
    a, b = st.columns(2)
    with a:
        figure(
            bias_table_figure(table, head, f"table of head {head} over (Δrow, Δcol)"),
            "pe_swin_table",
            caption="One learned bias per 2-D offset between a query and a key in the same window.",
        )
    with b:
        figure(
            gathered_bias_figure(pos_embed.swin_relative_bias(table, M)[head], f"bias added to a {M}×{M} window"),
            "pe_swin_bias",
            caption="B[i, j] = table[index(Δrow, Δcol)]: one learned number per 2-D offset.",
        )


def beyond_section() -> None:
    c1, c2, c3 = st.columns(3)
    trained = c1.slider("Trained length", 16, 1024, 512, key="pe_bt", bind=Q)
    total = c2.slider("Positions shown", 32, 4096, 2048, key="pe_bn", bind=Q)
    dim = c3.slider("Dimension", 8, 512, 64, step=8, key="pe_bd", bind=Q)
    frac = positional.unseen_angle_fraction(total, trained, dim)
    lt = positional.find_position_table(state.get_model("text"))
    norms = lt.table.norm(dim=1) if lt is not None else None
    figure(rel_plots.beyond_figure(frac, trained, norms, f"{state.model_name('text')} table"), "pe_beyond")
    st.markdown(
        f"- **Sinusoidal / RoPE** are defined at every position, but past {trained} the slow pairs reach angles "
        f"never seen in training ({float(frac[-1]):.0%} of pairs at position {total - 1}).\n"
        f"- **Learned** tables end: {state.model_name('text')} has "
        f"{lt.table.shape[0] if lt is not None else '—'} rows, so xviz truncates longer inputs (and says so).\n"
        "- **ALiBi** has no table: the bias −m·|i − j| just continues (trained short, tested long in the paper)."
    )


def compare_section() -> None:
    c1, c2, c3, c4 = st.columns(4)
    ka = c1.selectbox("Kind A", positional.KINDS, index=0, key="pe_ka", bind=Q)
    kb = c2.selectbox("Kind B", positional.KINDS, index=3, key="pe_kb", bind=Q)
    n = c3.slider("Positions", 4, 256, 64, key="pe_cn", bind=Q)
    dim = c4.slider("Dimension", 8, 384, 64, step=8, key="pe_cd", bind=Q)
    table = None
    if "learned (text model)" in (ka, kb):
        lt = positional.find_position_table(state.get_model("text"))
        table = lt.table if lt is not None else None
    cols = st.columns(2)
    for col, kind, key in ((cols[0], ka, "pe_cmp_a"), (cols[1], kb, "pe_cmp_b")):
        with col:
            mat = positional.position_matrix(kind, n, dim, table)
            figure(pos_plots.similarity_figure(mat, kind), key)
            st.caption(
                f"{kind}: spread along diagonals {float(positional.offset_curve(mat).std.max()):.3g} "
                "(0 = depends on the offset only)"
            )
