"""Attention page, text input: widgets, the cached run, compare modes. Views live in text_sections.py.
Any text model of the sidebar works (encoders and causal LMs); "Two models" runs a second one on the same text."""

from __future__ import annotations

import streamlit as st

from xviz.analysis.text_run import TextRun, run_text
from xviz.app import run_cache, state, widgets
from xviz.app.attention.text_sections import render_views
from xviz.app.widgets import Q
from xviz.errors import InputError
from xviz.inputs.text import decode_text_upload

DEFAULT_A = "The cat sat on the mat because it was tired."
DEFAULT_B = "The dog sat on the mat because it was tired."
COMPARE = ("Off", "Two sentences", "Two layers/heads", "Two models")
PAIR_MODELS = ("minilm-l6", "smollm2-135m")  # the default second model: the other of these two


def cached_text_run(model_name: str, device: str, items: tuple) -> TextRun:
    """Keyed on plain values, in the process-wide byte-bounded cache (a 512-token SmolLM2 recording is ~0.6 GB);
    the shared model is only read. The TextRun is never mutated by pages."""

    def compute() -> TextRun:
        return run_text(state.load_model_cached(model_name, device), list(items))

    with st.spinner("Running the model and recording every head…"):
        return run_cache.get_or_compute(("attention_text", model_name, device, items), compute)


def _text_inputs() -> tuple[object, object | None, str]:
    """Returns (item A, item B or None, compare mode). An item is a text or a (text_a, text_b) pair."""
    c1, c2 = st.columns([3, 1])
    with c2:
        compare = st.radio("Compare", COMPARE, key="attn_compare", bind=Q)
        pair = st.checkbox("Sentence pair", key="attn_pair", help="Two segments: [CLS] A [SEP] B [SEP]", bind=Q)
        upload = st.file_uploader("or upload .txt", type=["txt"], key="attn_upload")
    with c1:
        if upload is not None and st.session_state.get("attn_upload_id") != upload.file_id:
            st.session_state["attn_upload_id"] = upload.file_id  # load each new file once; then it is editable
            try:
                st.session_state["attn_text"] = decode_text_upload(upload.getvalue(), widgets.literal(upload.name[:80]))
            except InputError as err:  # say why, keep the current text and the rest of the page
                st.error(str(err))
        text_a = st.text_area("Text", DEFAULT_A, key="attn_text", height=80, bind=Q)
        seg = st.text_input("Second segment", "It slept all afternoon.", key="attn_seg", bind=Q) if pair else None
        text_b = (
            st.text_area("Text B", DEFAULT_B, key="attn_text_b", height=80, bind=Q) if compare == COMPARE[1] else None
        )
    item_a = (text_a, seg) if pair else text_a
    item_b = None if text_b is None else ((text_b, seg) if pair else text_b)
    return item_a, item_b, compare


def _second_model(name_a: str) -> str:
    """Model B of "Two models": any text model; by default MiniLM ↔ SmolLM2 (an encoder next to a decoder)."""
    choices = state.model_choices("text")
    other = [n for n in PAIR_MODELS if n != name_a and n in choices] or [n for n in choices if n != name_a]
    default = other[0] if other else name_a
    if st.session_state.get("attn_model_b") not in choices:
        st.session_state.pop("attn_model_b", None)
    kw = {} if "attn_model_b" in st.session_state else {"index": choices.index(default)}
    return st.selectbox(
        "Model B",
        choices,
        key="attn_model_b",
        bind=Q,
        help="Runs on the same text with its own tokenizer: its own tokens and statistics.",
        **kw,
    )


def _caption(tag: str, name: str, model) -> None:
    note = state.model_note(name, model)
    kind = "causal decoder" if model.is_causal else "bidirectional encoder"
    st.caption(
        f"Model{' ' + tag if tag else ''}: **{widgets.literal(name)}** ({kind}, {model.num_layers} layers × "
        f"{model.num_heads} heads){' — ' + note if note else ''}"
    )


def _notices(run: TextRun | None) -> None:
    if run is None:
        return
    if run.truncated:
        st.warning(
            f"The text is longer than this page records for {run.model_name} ({run.max_tokens} "
            f"positions): it was truncated to {run.max_tokens} tokens."
        )
    if run.notice:
        st.info(run.notice)
    if run.on_demand:
        n = len(run.tokens[0])
        st.caption(
            f"{n} tokens: attention is computed on demand from the recorded q and k (dense maps of every layer and "
            f"head would take {run.rec.dense_nbytes() / 2**30:.1f} GiB; this run keeps {run.rec.nbytes() / 2**20:,.0f} "
            "MiB). Views read only what they show: zoom in below to see single cells."
        )


def render() -> None:
    item_a, item_b, compare = _text_inputs()
    name = state.model_name("text")
    model = state.get_model("text")
    name_b = _second_model(name) if compare == COMPARE[3] else None
    _caption("A" if name_b else "", name, model)
    if name_b:
        _caption("B", name_b, state.get_model_named(name_b))
    device = str(state.device())
    with widgets.user_errors():
        run_a = cached_text_run(name, device, (item_a,))
        run_b = None
        if item_b is not None:
            run_b = cached_text_run(name, device, (item_b,))
        elif name_b:
            run_b = cached_text_run(name_b, device, (item_a,))
    _notices(run_a)
    _notices(run_b)
    stem = name if not name_b else f"{name}-vs-{name_b}"
    render_views(run_a, run_b, compare, stem=stem.replace("/", "_"))
