"""Language-model page: the tabs, and the Next-token and Logit-lens tabs. The model and the prompt are in common.py,
generation in generate.py, ablation and head scores in heads.py."""

from __future__ import annotations

import numpy as np
import streamlit as st

from xviz.app import widgets
from xviz.app.lm import cache, generate, heads
from xviz.app.lm.common import Ctx, export
from xviz.app.widgets import Q
from xviz.plots import lm as lm_plots


def render(ctx: Ctx) -> None:
    """Only the open tab runs (on_change="rerun"), so the first view costs one forward."""
    tabs = {
        "Next token": next_token_tab,
        "Logit lens": lens_tab,
        "Generate": generate.generate_tab,
        "Ablation": heads.ablation_tab,
        "Head scores": heads.scores_tab,
        "Compare": generate.compare_tab,
    }
    widgets.lazy_tabs(tabs, "lm_tab", ctx)


# ---- Next token -------------------------------------------------------------------------------------------------
def next_token_tab(ctx: Ctx) -> None:
    k = st.slider("Top k", 3, 40, 10, key="lm_k", bind=Q)
    nt = cache.next_token(ctx.name, ctx.device, ctx.ids, k)
    toks = cache.decode(ctx.name, ctx.device, tuple(nt.ids))
    c1, c2 = st.columns([3, 2])
    with c1:
        widgets.figure(
            lm_plots.next_token_bars(toks, nt.probs, f"Next token after “{lm_plots.tok(ctx.tokens[-1], 20)}”"),
            key="lm_next_fig",
        )
    with c2:
        st.dataframe(
            {
                "token": [repr(t) for t in toks],
                "id": nt.ids,
                "probability": [round(p, 4) for p in nt.probs],
                "log p": [round(float(np.log(max(p, 1e-30))), 3) for p in nt.probs],
            },
            hide_index=True,
            width="stretch",
        )
        st.caption(
            f"Top {k} hold {sum(nt.probs):.1%} of the probability; entropy of the full distribution "
            f"{float(-(nt.logprobs.exp() * nt.logprobs).nan_to_num().sum()):.2f} nats."
        )
    export({"top_ids": nt.ids, "top_probs": nt.probs, "last_logits": nt.logits}, ctx, "next-token", "lm_next_rec", k=k)


# ---- Logit lens -------------------------------------------------------------------------------------------------
def lens_tab(ctx: Ctx) -> None:
    c1, c2 = st.columns([1, 2])
    window = c1.slider(
        "Last positions shown",
        1,
        32,
        min(16, len(ctx.ids)),
        key="lm_lens_window",
        bind=Q,
        help="Each shown position costs one unembedding per layer (49152 × 576 for SmolLM2).",
    )
    answer_text = c2.text_input(
        "Track this answer (blank = the model's own top token)", "", key="lm_lens_answer", bind=Q
    )
    answer = cache.token_id(ctx.name, ctx.device, answer_text) if answer_text else None
    if answer_text and answer is None:
        st.warning("That answer gives no token; tracking the model's top token instead.")
    lens = cache.logit_lens(ctx.name, ctx.device, ctx.ids, answer, window)
    top_tokens = [cache.decode(ctx.name, ctx.device, tuple(row)) for row in lens.top_ids.tolist()]
    inputs = [ctx.tokens[p] for p in lens.positions]
    widgets.figure(
        lm_plots.lens_heatmap(top_tokens, lens.top_probs.numpy(), lens.layers, inputs),
        key="lm_lens_fig",
        caption="Row “emb” is the embedding before block 0; the top row is the model's own prediction "
        "(the lens of the last layer equals the logits).",
    )
    ans = cache.decode(ctx.name, ctx.device, (lens.answer_id,))[0]
    widgets.figure(
        lm_plots.answer_curve(lens.layers, lens.answer_rank.tolist(), lens.answer_prob.tolist(), ans),
        key="lm_lens_curve",
    )
    first = next((lay for lay, r in zip(lens.layers, lens.answer_rank.tolist()) if r == 0), None)
    shown = widgets.literal(repr(ans))
    st.caption(
        f"{shown} becomes the top token at layer {first}."
        if first is not None
        else f"{shown} is never the top token at the last position."
    )
    export(
        {
            "top_ids": lens.top_ids,
            "top_probs": lens.top_probs,
            "answer_rank": lens.answer_rank,
            "answer_prob": lens.answer_prob,
        },
        ctx,
        "logit-lens",
        "lm_lens_rec",
        positions=lens.positions,
        answer_id=lens.answer_id,
    )
