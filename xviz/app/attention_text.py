"""Attention page, text input: widgets, the cached run, compare modes. Views live in attention_views.py."""
from __future__ import annotations

import streamlit as st

from xviz.analysis.text_run import TextRun, run_text
from xviz.app import state, widgets
from xviz.app.attention_views import render_views
from xviz.errors import InputError
from xviz.inputs.text import decode_text_upload

DEFAULT_A = "The cat sat on the mat because it was tired."
DEFAULT_B = "The dog sat on the mat because it was tired."
COMPARE = ("Off", "Two sentences", "Two layers/heads")


@st.cache_resource(max_entries=12, show_spinner="Running the model and recording every head…")
def cached_run(model_name: str, device: str, items: tuple) -> TextRun:
    """Keyed on plain values; the shared model is only read. The TextRun is never mutated by pages."""
    model = state.load_model_cached(model_name, device)
    return run_text(model, list(items))


def _text_inputs() -> tuple[object, object | None, str]:
    """Returns (item A, item B or None, compare mode). An item is a text or a (text_a, text_b) pair."""
    c1, c2 = st.columns([3, 1])
    with c2:
        compare = st.radio("Compare", COMPARE, key="attn_compare", bind="query-params")
        pair = st.checkbox("Sentence pair", key="attn_pair", help="Two segments: [CLS] A [SEP] B [SEP]")
        upload = st.file_uploader("or upload .txt", type=["txt"], key="attn_upload")
    with c1:
        if upload is not None and st.session_state.get("attn_upload_id") != upload.file_id:
            st.session_state["attn_upload_id"] = upload.file_id  # load each new file once; then it is editable
            try:
                st.session_state["attn_text"] = decode_text_upload(upload.getvalue(),
                                                                     widgets.literal(upload.name[:80]))
            except InputError as err:  # say why, keep the current text and the rest of the page
                st.error(str(err))
        text_a = st.text_area("Text", DEFAULT_A, key="attn_text", height=80, bind="query-params")
        seg = st.text_input("Second segment", "It slept all afternoon.", key="attn_seg") if pair else None
        text_b = st.text_area("Text B", DEFAULT_B, key="attn_text_b", height=80) if compare == COMPARE[1] else None
    item_a = (text_a, seg) if pair else text_a
    item_b = None if text_b is None else ((text_b, seg) if pair else text_b)
    return item_a, item_b, compare


def render() -> None:
    item_a, item_b, compare = _text_inputs()
    name = state.model_name("text")
    note = state.model_note(name)
    if note:
        st.caption(f"Model: **{name}** — {note}")
    device = str(state.device())
    with widgets.user_errors():
        run_a = cached_run(name, device, (item_a,))
        run_b = cached_run(name, device, (item_b,)) if item_b is not None else None
    for run in (run_a, run_b):
        if run is not None and run.truncated:
            st.warning("The text is longer than the model's 512 positions: it was truncated to 512 tokens.")
        if run is not None and run.notice:
            st.info(run.notice)
    render_views(run_a, run_b, compare, stem=name)
