"""Circuits page: the Logit-attribution section (per part and per head, a clicked head's pattern and tokens)."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from xviz.app import widgets
from xviz.app.circuits import common
from xviz.app.widgets import Q
from xviz.plots import circuits as circuit_plots
from xviz.plots.heatmap import heatmap
from xviz.plots.lm import tok

_HEAD = re.compile(r"^L(\d+)H(\d+)$")


def _clicked(state) -> str | None:
    """The head label of a click on the head grid (a scatter: x = head, y = layer), if any."""
    points = (state or {}).get("selection", {}).get("points", []) if isinstance(state, dict) else []
    if not points and state is not None and hasattr(state, "selection"):
        points = state.selection.get("points", [])
    for p in points:
        if "x" in p and "y" in p:
            return f"L{int(p['y'])}H{int(p['x'])}"
    return None


def dla_section(ctx: common.Ctx) -> None:
    ids, a, b = ctx.key[0][0], ctx.key[2][0], ctx.key[3][0]
    res = common.dla(ctx.name, ctx.device, ids, a, b)
    ans, wrong = common.decode(ctx.name, ctx.device, (a, b))
    st.caption(
        "Direct logit attribution on the first **clean** prompt: each part of the final residual stream (the "
        "embedding, every layer's attention and MLP output, every head) divided by the final norm's scale taken "
        "from this run (frozen, as TransformerLens's apply_ln_to_stack) and projected on "
        f"W_U[{widgets.literal(repr(ans))}] − W_U[{widgets.literal(repr(wrong))}]. The parts add up to the "
        "logit difference; the remainder is what no part writes (the final norm's bias, the unembedding bias)."
    )
    m = st.columns(3)
    m[0].metric("Logit difference (model)", f"{res.logit_diff:.3f}")
    m[1].metric("Σ parts", f"{float(res.parts.sum()):.3f}")
    m[2].metric("Remainder", f"{res.remainder:+.2e}")
    widgets.figure(
        circuit_plots.dla_bars(
            res.labels, res.parts.numpy(), res.remainder, res.logit_diff, "Direct contribution of each part"
        ),
        key="ci_dla_bars",
    )
    heads = res.heads.numpy()
    options = [f"L{i}H{h}" for i in range(ctx.num_layers) for h in range(ctx.num_heads)]
    top = options[int(np.abs(heads).argmax())]
    click = _clicked(st.session_state.get("ci_dla_heads"))  # the grid's selection from the last run
    if click and click in options and click != st.session_state.get("ci_dla_click"):
        st.session_state["ci_dla_click"] = click  # a new click moves the picker (before it is drawn)
        st.session_state["ci_dla_head"] = click
    chosen = st.session_state.get("ci_dla_head", top)
    sel = _HEAD.match(chosen if chosen in options else top)
    c1, c2 = st.columns([2, 3])
    with c1:
        widgets.figure(
            circuit_plots.head_squares(heads, "Per head (click one)", "DLA", (int(sel.group(1)), int(sel.group(2)))),
            key="ci_dla_heads",
            on_select="rerun",
        )
    with c2:
        label = st.selectbox("Head", options, index=options.index(top), key="ci_dla_head", bind=Q)
        layer, head = (int(g) for g in _HEAD.match(label).groups())
        _head_detail(ctx, ids, layer, head, a, b)
    bias = res.head_bias.numpy()
    st.caption(
        f"Heads sum to the attention parts minus the biases' share (b_O and the value bias through W_O: "
        f"{float(np.abs(bias).sum()):.3f} in all). Largest heads: "
        + ", ".join(f"{options[i]} ({heads.flat[i]:+.2f})" for i in np.argsort(-np.abs(heads).ravel())[:5])
        + "."
    )
    common.export({"parts": res.parts, "heads": res.heads, "head_bias": res.head_bias}, ctx, "dla", "ci_dla_rec",
             labels=res.labels, remainder=res.remainder, logit_diff=res.logit_diff)  # fmt: skip


def _head_detail(ctx: common.Ctx, ids: tuple, layer: int, head: int, a: int, b: int) -> None:
    hv = common.head_view(ctx.name, ctx.device, ids, layer, head, a, b)
    st.metric(f"L{layer}H{head}'s direct contribution", f"{hv.dla:+.3f}")
    widgets.figure(
        heatmap(hv.pattern, ctx.tokens, ctx.tokens, title=f"Attention pattern of L{layer}H{head}", value_name="p",
                height=380),
        key="ci_dla_pattern",
    )  # fmt: skip
    up = common.decode(ctx.name, ctx.device, tuple(i for i, _ in hv.promoted))
    down = common.decode(ctx.name, ctx.device, tuple(i for i, _ in hv.suppressed))
    widgets.figure(
        circuit_plots.token_bars(
            list(zip(up, (v for _, v in hv.promoted))),
            list(zip(down, (v for _, v in hv.suppressed))),
            f"Tokens L{layer}H{head}'s output at {tok(ctx.tokens[-1], 12)} promotes / suppresses",
        ),
        key="ci_dla_tokens",
    )
