"""The Language-model page's shared state: the chosen model, the prompt and its tokens (`Ctx`, the plain values
every tab's cached calls are keyed on), and the export of a tab's numbers."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from xviz.app import state, widgets
from xviz.app.lm import cache
from xviz.app.widgets import Q
from xviz.hooks import Recording

DEFAULT_PROMPT = "The capital of France is"


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
    """The prompt box and its tokens; empty → message and stop; longer than the page's limit → truncated, said so."""
    st.session_state.setdefault("lm_prompt", DEFAULT_PROMPT)
    prompt = st.text_area(
        "Prompt",
        key="lm_prompt",
        height=80,
        bind=Q,
        help=f"At most {cache.prompt_limit(name, str(state.device())):,} tokens for this model; longer ones are cut.",
    )
    if not prompt.strip():
        st.info("Type a prompt to see what the model predicts next.")
        st.stop()
    device = str(state.device())
    ids, tokens, truncated = cache.tokenize(name, device, prompt)
    if truncated:
        st.warning(f"The prompt is longer than {len(ids):,} tokens: only its first {len(ids):,} are used.")
    st.caption(
        f"**{name}** · {len(ids)} tokens · {model.num_layers} layers × {model.num_heads} heads "
        f"({model.num_kv_heads} KV heads) · {device}"
    )
    return Ctx(name, device, ids, tokens, prompt, model.num_layers, model.num_heads)


def export(tensors: dict, ctx: Ctx, what: str, key: str, **meta) -> None:
    """The numbers behind a tab as .npz + .json (model, prompt, ids, device, settings)."""
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
