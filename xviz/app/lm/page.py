"""Language-model page: the model (fetched on first use, with progress), the prompt, the tabs; the Next-token and
Logit-lens tabs. Generation lives in lm_generate_sections.py, ablation / head scores in lm_heads_sections.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from xviz.app import state, widgets
from xviz.app.lm import cache as C
from xviz.app.widgets import Q
from xviz.hooks import Recording
from xviz.plots import lm as P

DEFAULT_PROMPT = "The capital of France is"
TABS = ["Next token", "Logit lens", "Generate", "Ablation", "Head scores", "Compare"]


@dataclass(frozen=True)
class Ctx:
    """What every tab needs: plain values (cache keys) plus the decoded tokens."""

    name: str
    device: str
    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    prompt: str
    num_layers: int
    num_heads: int


def load_model():
    """(model, name) of the chosen language model (the sidebar's picker); errors are shown and stop the page."""
    name = state.model_name("lm") or "smollm2-135m"
    model = state.get_model_named(name)
    if model.kind != "lm" or not model.has_lens:
        st.error(f"{widgets.literal(name)} is not a causal language model (kind {model.kind!r}).")
        st.stop()
    if model.tokenizer is None:
        st.error(f"{name} was loaded without a tokenizer: this page needs one to read your prompt.")
        st.stop()
    return model, name


def prompt_ctx(model, name: str) -> Ctx:
    """The prompt box and its tokens; empty → message and stop; longer than 512 tokens → truncated, said so."""
    st.session_state.setdefault("lm_prompt", DEFAULT_PROMPT)
    prompt = st.text_area(
        "Prompt",
        key="lm_prompt",
        height=80,
        bind=Q,
        help=f"At most {C.MAX_PROMPT_TOKENS} tokens on this page; longer prompts are cut.",
    )
    if not prompt.strip():
        st.info("Type a prompt to see what the model predicts next.")
        st.stop()
    device = str(state.device())
    ids, tokens, truncated = C.tokenize(name, device, prompt)
    if truncated:
        st.warning(
            f"The prompt is longer than {C.MAX_PROMPT_TOKENS} tokens: only its first {C.MAX_PROMPT_TOKENS} are used."
        )
    st.caption(
        f"**{name}** · {len(ids)} tokens · {model.num_layers} layers × {model.num_heads} heads "
        f"({model.num_kv_heads} KV heads) · {device}"
    )
    return Ctx(name, device, ids, tokens, prompt, model.num_layers, model.num_heads)


def render(ctx: Ctx) -> None:
    """Only the open tab runs (on_change="rerun"), so the first view costs one forward."""
    from xviz.app.lm import generate as lm_generate_sections
    from xviz.app.lm import heads as lm_heads_sections

    renderers = [
        next_token_tab,
        lens_tab,
        lm_generate_sections.generate_tab,
        lm_heads_sections.ablation_tab,
        lm_heads_sections.scores_tab,
        lm_generate_sections.compare_tab,
    ]
    tabs = st.tabs(TABS, key="lm_tab", on_change="rerun", bind=Q)
    opened = next((i for i, t in enumerate(tabs) if getattr(t, "open", False)), 0)
    with tabs[opened]:
        renderers[opened](ctx)


def export(tensors: dict, ctx: Ctx, what: str, key: str, **meta) -> None:
    """The numbers behind a tab as .npz + .json (model, prompt, ids, device, settings)."""
    import torch

    rec = Recording(
        {k: torch.as_tensor(v) for k, v in tensors.items()},
        dict(
            model=ctx.name,
            prompt=ctx.prompt,
            input_ids=list(ctx.ids),
            device=ctx.device,
            dtype="float32",
            view=what,
            **meta,
        ),
    )
    widgets.recording_downloads(rec, f"{ctx.name}-{what}", key)


# ---- Next token -------------------------------------------------------------------------------------------------
def next_token_tab(ctx: Ctx) -> None:
    k = st.slider("Top k", 3, 40, 10, key="lm_k", bind=Q)
    nt = C.next_token(ctx.name, ctx.device, ctx.ids, k)
    toks = C.decode(ctx.name, ctx.device, tuple(nt.ids))
    c1, c2 = st.columns([3, 2])
    with c1:
        widgets.figure(
            P.next_token_bars(toks, nt.probs, f"Next token after “{P.tok(ctx.tokens[-1], 20)}”"), key="lm_next_fig"
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
    answer = C.token_id(ctx.name, ctx.device, answer_text) if answer_text else None
    if answer_text and answer is None:
        st.warning("That answer gives no token; tracking the model's top token instead.")
    lens = C.logit_lens(ctx.name, ctx.device, ctx.ids, answer, window)
    top_tokens = [C.decode(ctx.name, ctx.device, tuple(row)) for row in lens.top_ids.tolist()]
    inputs = [ctx.tokens[p] for p in lens.positions]
    widgets.figure(
        P.lens_heatmap(top_tokens, lens.top_probs.numpy(), lens.layers, inputs),
        key="lm_lens_fig",
        caption="Row “emb” is the embedding before block 0; the top row is the model's own prediction "
        "(the lens of the last layer equals the logits).",
    )
    ans = C.decode(ctx.name, ctx.device, (lens.answer_id,))[0]
    widgets.figure(
        P.answer_curve(lens.layers, lens.answer_rank.tolist(), lens.answer_prob.tolist(), ans), key="lm_lens_curve"
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
