"""Render helpers of the Encoder–decoder page: input, cross-attention against the known alignment, the two
self-attentions, and the cached runs. Decoding, exposure bias, AT vs NAT and BLEU: encdec_decoding_sections.py."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis import encdec
from xviz.app import state
from xviz.app.encdec.common import Ctx, cached_encdec_run
from xviz.app.widgets import Q, figure, literal, recording_downloads
from xviz.data import seq2seq_tasks as tasks
from xviz.plots import encdec as encdec_plots

EXAMPLES = {
    "reverse": ["transformers", "attentionisallyouneed", "abcdefghijklmnopqrstuvwx", "level"],
    "date": ["3rd of March 2021", "March 3, 2021", "December 25, 1999", "21st of July 1969", "31st of February 2021"],
    "copy": [
        "Please greet Ada Lovelace warmly.",
        "My name is Alan Turing.",
        "Say hello to Grace, please.",
        "Ask Rosalind to call back.",
    ],
}
TASK_HELP = {
    "reverse": "lowercase letters → the same letters backwards (alignment: the anti-diagonal)",
    "date": "'3rd of March 2021' or 'March 3, 2021' → '2021-03-03' (alignment crosses: year first)",
    "copy": "a name inside a template sentence → the name (alignment: a shifted diagonal)",
}


def _example_changed() -> None:
    ex = st.session_state.get("ed_example")
    if ex and ex != "(type your own)":
        st.session_state["ed_src"] = ex


def _task_changed() -> None:
    st.session_state["ed_src"] = EXAMPLES[st.session_state["ed_task"]][0]
    st.session_state["ed_example"] = "(type your own)"


def inputs(model, name: str) -> Ctx:
    """Task, example or free text, validated (empty / outside the vocabulary / too long)."""
    c1, c2, c3 = st.columns([1, 2, 3])
    task = c1.selectbox(
        "Task",
        tasks.TASKS,
        key="ed_task",
        bind=Q,
        on_change=_task_changed,
        help="\n".join(f"{k}: {v}" for k, v in TASK_HELP.items()),
    )
    c2.selectbox("Example", ["(type your own)"] + EXAMPLES[task], key="ed_example", on_change=_example_changed)
    st.session_state.setdefault("ed_src", EXAMPLES[task][0])
    raw = c3.text_input("Source", key="ed_src", bind=Q, max_chars=200)
    st.caption(f"**{task}**: {TASK_HELP[task]}. Vocabulary: a–z A–Z 0–9 space , . - '")
    source, notes = encdec.validate_source(raw, task)
    for n in notes:
        st.warning(n)
    return Ctx(model, name, task, source)


def _reference_note(run: encdec.Run) -> None:
    out = literal(run.target)
    if run.reference is None:
        st.info(f"Model output: **{out}**. No known answer: {run.why_no_reference}.")
    elif run.reference.target == run.target:
        st.success(f"Model output: **{out}** — correct (expected {literal(run.reference.target)}).")
    else:
        st.error(f"Model output: **{out}** — expected **{literal(run.reference.target)}**.")


def _layer_head(prefix: str, L: int, H: int) -> tuple[int, int | str]:
    a, b = st.columns(2)
    layer = a.selectbox("Layer", range(L), index=L - 1, key=f"{prefix}_layer", bind=Q)
    head = b.selectbox("Head", ["mean"] + list(range(H)), key=f"{prefix}_head", bind=Q)
    return int(layer), head


def _probs(run: encdec.Run, name: str, head) -> torch.Tensor:
    p = run.rec[name][0]  # (H, Nq, Nk)
    return p.mean(0) if head == "mean" else p[int(head)]


def cross_section(c: Ctx) -> None:
    run = cached_encdec_run(c.name, str(state.device()), c.source, c.task, None, False)
    _reference_note(run)
    L, H = c.model.cfg.decoder_layers, c.model.cfg.num_heads
    layer, head = _layer_head("ed_x", L, H)
    probs = _probs(run, f"decoder.blocks.{layer}.cross_attn.hook_probs", head)
    scores = encdec.cross_scores(run)
    if scores is not None:
        s = encdec.alignment_score(probs, run.align)
        m1, m2, m3 = st.columns(3)
        m1.metric("Alignment score (this map)", f"{float(s):.2f}")
        best = int(scores.argmax())  # flat index into (L, H)
        m2.metric(f"Best head (layer {best // H}, head {best % H})", f"{float(scores.max()):.2f}")
        m3.metric("Argmax on the alignment", f"{encdec.argmax_on_alignment(probs, run.align):.0%}")
    title = f"Cross-attention, decoder layer {layer}, head {head}"
    figure(
        encdec_plots.attention_map(probs, run.src_tokens, run.tgt_tokens, title, run.align),
        "ed_cross",
        caption="Rows: the decoder's input at each step (it predicts the next character); columns: the source "
        "tokens (the task token first). Red squares: the characters each output should read (known "
        "alignment). Alignment score = mean over rows of the attention mass on those squares.",
    )
    if scores is not None:
        figure(encdec_plots.score_grid(scores, "Alignment score of every cross-attention head"), "ed_scores")
    recording_downloads(run.rec, f"encdec-{c.task}", "ed_rec")


def self_section(c: Ctx) -> None:
    run = cached_encdec_run(c.name, str(state.device()), c.source, c.task, None, False)
    _reference_note(run)
    layer, head = _layer_head("ed_s", c.model.cfg.num_layers, c.model.cfg.num_heads)
    dec_layer = min(layer, c.model.cfg.decoder_layers - 1)
    left, right = st.columns(2)
    with left:
        p = _probs(run, f"encoder.blocks.{layer}.attn.hook_probs", head)
        figure(
            encdec_plots.attention_map(
                p,
                run.src_tokens,
                run.src_tokens,
                f"Encoder self-attention, layer {layer}",
                x_title="key (source)",
                y_title="query (source)",
            ),
            "ed_enc",
            caption="Bidirectional: every source token sees every other (padding only is masked).",
        )
    with right:
        p = _probs(run, f"decoder.blocks.{dec_layer}.attn.hook_probs", head)
        above = float(torch.triu(p, 1).sum())
        figure(
            encdec_plots.attention_map(
                p,
                run.tgt_tokens,
                run.tgt_tokens,
                f"Decoder causal self-attention, layer {dec_layer}",
                x_title="key (earlier output)",
                y_title="query (decoder input)",
            ),
            "ed_dec",
            caption=f"Causal mask: step t sees steps ≤ t only. Weight above the diagonal: {above:.1e} (exactly 0).",
        )


def is_own(model) -> bool:
    """xviz's own encoder–decoder (trained on tasks with a known alignment), not a Hugging Face one."""
    return model.backend == "xviz"


def model_picker() -> None:
    """seq2seq-tiny or an HF encoder–decoder folder added in the sidebar ("Add a model")."""
    choices = state.model_choices("seq2seq")
    if len(choices) > 1:
        if st.session_state.get("model_seq2seq") not in choices:
            st.session_state["model_seq2seq"] = state.model_name("seq2seq")
        st.selectbox("Encoder–decoder", choices, key="model_seq2seq", bind=Q)


@st.cache_resource(max_entries=16, show_spinner="Running the Hugging Face model…")
def cached_hf_run(name: str, device: str, source: str, target: str) -> encdec.Run:
    return encdec.hf_run(state.load_model_cached(name, device), source, target or None)


def hf_section(model, name: str) -> None:
    """The model-independent views for any HF encoder–decoder: cross-attention, decoder and encoder attention."""
    st.info(
        "A Hugging Face encoder–decoder: no known alignment here (the alignment score needs xviz's own tasks), "
        "and decoding step by step, AT vs NAT and BLEU are for seq2seq-tiny."
    )
    source = st.text_area("Source", "The cat sat on the mat.", key="ed_hf_src", height=68, bind=Q)
    target = st.text_input("Target (empty: the model's own greedy output)", "", key="ed_hf_tgt", bind=Q)
    run = cached_hf_run(name, str(state.device()), source, target)
    st.markdown(f"Decoder input: **{literal(run.target)}**")
    dec_L = sum(1 for k in run.rec if k.endswith("cross_attn.hook_probs"))
    H = run.rec["decoder.blocks.0.cross_attn.hook_probs"].shape[1]
    layer, head = _layer_head("ed_hf", dec_L, H)
    figure(
        encdec_plots.attention_map(
            _probs(run, f"decoder.blocks.{layer}.cross_attn.hook_probs", head),
            run.src_tokens,
            run.tgt_tokens,
            f"Cross-attention, decoder layer {layer}, head {head}",
        ),
        "ed_hf_cross",
        caption="Rows: decoder inputs (each predicts the next token); columns: source tokens.",
    )
    left, right = st.columns(2)
    with left:
        figure(
            encdec_plots.attention_map(
                _probs(run, f"decoder.blocks.{layer}.attn.hook_probs", head),
                run.tgt_tokens,
                run.tgt_tokens,
                f"Decoder causal self-attention, layer {layer}",
                x_title="key",
                y_title="query",
            ),
            "ed_hf_dec",
        )
    with right:
        enc_L = sum(1 for k in run.rec if k.startswith("encoder.") and k.endswith(".attn.hook_probs"))
        el = min(layer, enc_L - 1)
        figure(
            encdec_plots.attention_map(
                _probs(run, f"encoder.blocks.{el}.attn.hook_probs", head),
                run.src_tokens,
                run.src_tokens,
                f"Encoder self-attention, layer {el}",
                x_title="key",
                y_title="query",
            ),
            "ed_hf_enc",
        )
    recording_downloads(run.rec, "encdec-hf", "ed_hf_rec")
