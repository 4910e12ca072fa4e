"""Circuits page: the Activation-patching and Attribution-patching sections."""

from __future__ import annotations

import numpy as np
import streamlit as st

from xviz.analysis.patching import PatchResult, ci_halfwidth
from xviz.app import widgets
from xviz.app.circuits import common
from xviz.app.widgets import Q
from xviz.plots import circuits as circuit_plots

GRIDS = {
    "Residual stream": ("resid_pre",),
    "Attention and MLP outputs": ("attn_out", "mlp_out"),
    "Heads: output z": ("z",),
    "Heads: q, k, v, pattern": ("q", "k", "v", "pattern"),
}
TITLES = {
    "resid_pre": "Residual stream entering each layer (resid_pre)",
    "attn_out": "Attention output",
    "mlp_out": "MLP output",
    "z": "Head output z (all positions)",
    "q": "Queries",
    "k": "Keys (per KV head)",
    "v": "Values (per KV head)",
    "pattern": "Attention pattern",
}


def _columns(ctx: common.Ctx, site: str) -> tuple[list[str], str]:
    if site in ("resid_pre", "attn_out", "mlp_out"):
        return [f"{t}" for t in ctx.tokens], "position"
    n = ctx.num_kv_heads if site in ("k", "v") else ctx.num_heads
    return [f"{'KV ' if site in ('k', 'v') else ''}{h}" for h in range(n)], "KV head" if site in ("k", "v") else "head"


def _metrics(res: PatchResult, ctx: common.Ctx) -> None:
    m = st.columns(3)
    m[0].metric("Clean run", f"{float(res.clean.mean()):.3f}", help="logit[answer] − logit[wrong], mean over pairs")
    m[1].metric("Corrupted run", f"{float(res.corrupt.mean()):.3f}")
    m[2].metric("Prompt pairs", ctx.num_pairs)
    if (res.clean - res.corrupt).abs().min() < 1e-6:
        st.warning("A pair's clean and corrupted metrics are equal: its normalised recovery is undefined (NaN).")


def _grid(res: PatchResult, ctx: common.Ctx, normalised: bool, key: str, title: str | None = None) -> None:
    mean, half = res.summary(normalised)
    cols, col_title = _columns(ctx, res.site)
    name = "recovered" if normalised else "logit diff"
    half_width = half.numpy() if ctx.num_pairs > 1 else None
    title = title or TITLES[res.site]
    fig = circuit_plots.patch_grid(
        mean.numpy(), half_width, cols, title, name, col_title, normalised, float(res.corrupt.mean())
    )
    widgets.figure(fig, key=key)
    if ctx.num_pairs > 1:
        with st.expander(f"95 % intervals of {TITLES[res.site].lower()}", expanded=False):
            widgets.figure(
                circuit_plots.ci_grid(half.numpy(), cols, "Half-width of the 95 % interval", col_title), key=f"{key}_ci"
            )


def patching_section(ctx: common.Ctx) -> None:
    c1, c2 = st.columns([3, 2])
    what = c1.radio("Patch", list(GRIDS), index=2, key="ci_patch", horizontal=True, bind=Q)
    normalised = c2.radio(
        "Show",
        ["normalised (0 corrupted, 1 clean)", "logit difference"],
        key="ci_norm",
        horizontal=True,
        bind=Q,
        help="Normalised: (m − m_corrupt) / (m_clean − m_corrupt) per pair, then the mean.",
    ).startswith("normalised")
    st.caption(
        "Each cell is the metric of one run of the **corrupted** prompt with that one activation taken from the "
        "**clean** run (all cells of a grid run as rows of one batch). White: no change from the corrupted run; "
        "red: towards the clean answer. Hover a cell for its value (and its 95 % interval with several pairs)."
    )
    results = {site: common.sweep(ctx.name, ctx.device, ctx.key, site) for site in GRIDS[what]}
    _metrics(next(iter(results.values())), ctx)
    sites = list(results)
    for row in range(0, len(sites), 2):
        cols = st.columns(2) if len(sites) > 1 else [st.container()]
        for col, site in zip(cols, sites[row : row + 2]):
            with col:
                _grid(results[site], ctx, normalised, f"ci_patch_{site}")
    first = results[sites[0]]
    tensors = {f"{s}_values": r.values for s, r in results.items()} | {"clean": first.clean, "corrupt": first.corrupt}
    common.export(tensors, ctx, "patching", "ci_patch_rec", grids=sites)


# ---- attribution patching --------------------------------------------------------------------------------------
ATTR_SITES = {"Heads: output z": "z", "Residual stream": "resid_pre", "Attention output": "attn_out",
              "MLP output": "mlp_out", "Heads: values": "v", "Heads: pattern": "pattern"}  # fmt: skip


def attribution_section(ctx: common.Ctx) -> None:
    label = st.radio("Site", list(ATTR_SITES), key="ci_attr_site", horizontal=True, bind=Q)
    site = ATTR_SITES[label]
    st.caption(
        "Attribution patching (Nanda 2023): metric(patched) ≈ metric(corrupt) + (a_clean − a_corrupt) · "
        "∂metric/∂a, from **one** forward and one backward pass on the corrupted prompt — a screen that real "
        "patching (one run per cell) checks."
    )
    est = common.attribution_sweep(ctx.name, ctx.device, ctx.key, site)
    real = common.sweep(ctx.name, ctx.device, ctx.key, site)
    c1, c2 = st.columns(2)
    with c1:
        _grid(est, ctx, False, "ci_attr_est", f"Attribution patching: {TITLES[site]}")
    with c2:
        _grid(real, ctx, False, "ci_attr_real", f"Real patching: {TITLES[site]}")
    cols, col_title = _columns(ctx, site)
    labels = [f"layer {i}, {col_title} {cols[j]}" for i in range(est.mean.shape[0]) for j in range(est.mean.shape[1])]
    r = float(np.corrcoef(est.mean.flatten().numpy(), real.mean.flatten().numpy())[0, 1])
    widgets.figure(
        circuit_plots.attribution_scatter(
            est.mean.numpy(), real.mean.numpy(), labels, f"Estimate vs real patching (r = {r:.3f})"
        ),
        key="ci_attr_scatter",
        caption="Points far from the dotted line are where the linear estimate fails (large, non-linear effects "
        "such as a whole stream at an early layer).",
    )
    if site == "z":
        _faithfulness(ctx, est, real)
    common.export({"estimate": est.values, "real": real.values}, ctx, "attribution-patching", "ci_attr_rec", site=site)


def _faithfulness(ctx: common.Ctx, est: PatchResult, real: PatchResult) -> None:
    total = ctx.num_layers * ctx.num_heads
    max_k = int(
        st.slider("Top heads re-patched (k up to)", 1, min(40, total), min(20, total), key="ci_faith_k", bind=Q)
    )
    curves = {}
    for name, res in (("ranked by attribution patching", est), ("ranked by real patching", real)):
        scores = tuple(map(tuple, (res.mean - res.corrupt.mean()).tolist()))  # (L, H) estimated gain
        ks, rec = common.faithfulness(ctx.name, ctx.device, ctx.key, scores, max_k)
        half = ci_halfwidth(rec.T).numpy() if ctx.num_pairs > 1 else None  # (P, K+1) → (K+1,)
        curves[name] = (rec.nanmean(1).numpy(), half)
    widgets.figure(
        circuit_plots.faithfulness_curve(ks, curves),
        key="ci_faith",
        caption="Each point is a real forward run with the k top-ranked heads' z taken from the clean run. A "
        "ranking whose curve reaches 1 with few heads has found the heads that carry the difference.",
    )
    top = curves["ranked by attribution patching"][0]
    first = next((k for k, v in zip(ks, top) if v >= 0.9), None)
    st.caption(
        f"The attribution ranking recovers {top[-1]:.0%} with {ks[-1]} heads"
        + (f"; 90 % is reached at k = {first}." if first is not None else ".")
    )
