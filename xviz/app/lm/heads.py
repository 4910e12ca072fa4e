"""Language-model page: the Ablation tab (zero / mean ablation of chosen heads) and the Head-scores tab
(induction, previous-token, duplicate-token, first-token sink per layer × head; the IOI preset)."""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from xviz.analysis.lm_heads import IOI_ANSWERS, IOI_PROMPT, SCORES
from xviz.app import widgets
from xviz.app.lm import cache
from xviz.app.lm.common import Ctx, export
from xviz.app.widgets import Q
from xviz.plots import lm as lm_plots

_PAIR = re.compile(r"^L(\d+)H(\d+)$")


def _pairs(labels: list[str]) -> tuple[tuple[int, int], ...]:
    out = []
    for lab in labels:
        m = _PAIR.match(lab)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return tuple(sorted(out))


def _use_ioi() -> None:
    """Button callback (runs before the widgets): the IOI prompt and its answer pair."""
    st.session_state["lm_prompt"] = IOI_PROMPT
    st.session_state["lm_abl_a"], st.session_state["lm_abl_b"] = IOI_ANSWERS


# ---- Ablation ---------------------------------------------------------------------------------------------------
def ablation_tab(ctx: Ctx) -> None:
    options = [f"L{layer}H{h}" for layer in range(ctx.num_layers) for h in range(ctx.num_heads)]
    c1, c2 = st.columns([3, 1])
    kept = [o for o in st.session_state.get("lm_abl_heads", []) if o in options]
    if kept != st.session_state.get("lm_abl_heads", []):  # heads of another model: drop what does not exist
        st.session_state["lm_abl_heads"] = kept
    chosen = c1.multiselect(
        "Heads to ablate (layer, head)", options, key="lm_abl_heads", bind=Q, placeholder="e.g. L18H6"
    )
    mode = c2.radio(
        "Ablation",
        ["zero", "mean"],
        key="lm_abl_mode",
        horizontal=True,
        bind=Q,
        help="zero: z_h := 0; mean: z_h := its mean over the prompt's positions (before W_O).",
    )
    c3, c4, c5 = st.columns([1, 1, 1])
    st.session_state.setdefault("lm_abl_a", IOI_ANSWERS[0])
    st.session_state.setdefault("lm_abl_b", IOI_ANSWERS[1])
    ta = c3.text_input("Token A (logit difference A − B)", key="lm_abl_a", bind=Q)
    tb = c4.text_input("Token B", key="lm_abl_b", bind=Q)
    c5.button("IOI preset", key="lm_abl_ioi", on_click=_use_ioi, help=f"Prompt: {IOI_PROMPT!r}")
    a, b = (cache.token_id(ctx.name, ctx.device, t) if t else None for t in (ta, tb))
    pair = (a, b) if a is not None and b is not None else None
    res = cache.ablate(ctx.name, ctx.device, ctx.ids, _pairs(chosen), mode, 10, pair)
    union = list(dict.fromkeys(res.before.ids + res.after.ids))
    toks = cache.decode(ctx.name, ctx.device, tuple(union))
    widgets.figure(
        lm_plots.ablation_bars(
            toks, res.before.logprobs[union].exp().tolist(), res.after.logprobs[union].exp().tolist()
        ),
        key="lm_abl_fig",
    )
    m = st.columns(3)
    m[0].metric("KL(before ‖ after)", f"{res.kl:.4f} nats")
    if pair:
        m[1].metric(
            widgets.literal(f"logit {ta!r} − {tb!r}"),
            f"{res.logit_diff_after:.3f}",
            f"{res.logit_diff_after - res.logit_diff_before:+.3f} (was {res.logit_diff_before:.3f})",
        )
    m[2].metric("Heads ablated", len(chosen))
    if not chosen:
        st.caption("No head chosen: before and after are the same run (KL 0).")
    export(
        {"before_logits": res.before.logits, "after_logits": res.after.logits},
        ctx,
        "ablation",
        "lm_abl_rec",
        heads=list(_pairs(chosen)),
        mode=mode,
    )


# ---- Head scores ------------------------------------------------------------------------------------------------
def scores_tab(ctx: Ctx) -> None:
    src = st.radio(
        "Input",
        ["Repeated random tokens", "This prompt"],
        key="lm_hs_src",
        horizontal=True,
        bind=Q,
        help="Induction heads show up on a random sequence repeated twice (Olsson et al. 2022).",
    )
    if src == "Repeated random tokens":
        c1, c2 = st.columns(2)
        copy_len = int(c1.slider("Copy length", 5, 100, 40, key="lm_hs_len", bind=Q))
        seed = int(c2.number_input("Seed", 0, 2**31 - 1, 0, key="lm_hs_seed", bind=Q))
        ids = cache.repeated_ids(ctx.name, ctx.device, copy_len, seed)
        st.caption(
            f"[bos] + {copy_len} random tokens + the same {copy_len} again = {len(ids)} tokens; the induction "
            f"target of a query in the second copy is the key {copy_len - 1} positions back."
        )
    else:
        ids = ctx.ids
    scores = cache.head_scores(ctx.name, ctx.device, ids)
    cols = st.columns(2)
    for i, name in enumerate(SCORES):
        with cols[i % 2]:
            s = scores[name].numpy()
            if np.isnan(s).all():
                st.caption(f"{name}: no query of this input has a target key (e.g. no repeated token).")
                continue
            layer, h = divmod(int(np.nanargmax(s)), s.shape[1])
            widgets.figure(
                lm_plots.head_scores(s, name, height=460),
                key=f"lm_hs_{i}",
                caption=f"Top: layer {layer} head {h} ({float(s[layer, h]):.2f}).",
            )
    export({k.replace(" ", "_"): v for k, v in scores.items()}, ctx, "head-scores", "lm_hs_rec", score_input=src)
    _ioi(ctx)


def _ioi(ctx: Ctx) -> None:
    st.divider()
    st.markdown(
        f"**IOI preset** (Wang et al. 2022): “{IOI_PROMPT}” → “ Mary”. Logit difference Mary − John, "
        "and how it changes when each head alone is ablated."
    )
    c1, c2 = st.columns([1, 3])
    mode = c1.radio("Ablation", ["zero", "mean"], key="lm_ioi_mode", horizontal=True, bind=Q)
    if not c2.toggle(
        f"Run the per-head ablation ({ctx.num_layers} batched forwards of {ctx.num_heads} rows; "
        "about half a minute for SmolLM2 on 2 CPU cores)",
        key="lm_ioi_run",
    ):
        return
    ids, _, _ = cache.tokenize(ctx.name, ctx.device, IOI_PROMPT)
    a, b = (cache.token_id(ctx.name, ctx.device, t) for t in IOI_ANSWERS)
    if a is None or b is None:
        st.error("This model's tokenizer gives no tokens for the IOI names.")
        return
    clean, eff = cache.ioi_effects(ctx.name, ctx.device, ids, a, b, mode)
    widgets.figure(lm_plots.head_scores(eff.numpy(), "Δ logit diff (ablated − clean)", signed=True), key="lm_ioi_fig")
    flat = eff.flatten()
    worst = [divmod(int(i), eff.shape[1]) for i in flat.argsort()[:5]]
    st.caption(
        f"Clean logit difference {clean:.2f}. Heads whose ablation lowers it most (the name movers' "
        f"candidates): " + ", ".join(f"L{layer}H{h} ({float(eff[layer, h]):+.2f})" for layer, h in worst) + "."
    )
    export({"delta_logit_diff": eff, "clean": [clean]}, ctx, "ioi", "lm_ioi_rec", mode=mode)
