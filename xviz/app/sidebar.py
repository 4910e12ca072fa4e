"""The shared sidebar: device, model pickers, and loading your own HF-format checkpoint."""

from __future__ import annotations

import streamlit as st

from xviz.app import state
from xviz.app.widgets import Q, literal
from xviz.errors import XvizError
from xviz.models.contract import KINDS


def render() -> None:
    with st.sidebar:
        st.markdown("### xviz")
        state.device_select()
        for kind, info in KINDS.items():
            choices = state.model_choices(kind) if info.label else []
            if choices:
                _picker(kind, info.label, choices)
        with st.expander("Add a model"):
            st.caption("A local folder with config.json + model.safetensors, or hf:<hub id> (needs internet).")
            st.text_input("Folder or hf:<id>", key="custom_model_path")
            st.button("Load", key="custom_model_load", on_click=_add_custom)
            msg = st.session_state.pop("custom_model_msg", None)
            if msg:
                (st.success if msg[0] == "ok" else st.error)(literal(msg[1]))  # quotes what was typed


def _picker(kind: str, label: str, choices: list[str]) -> None:
    """One model picker, in the URL (?model_text=smollm2-135m, ?model_image=…), so a link reopens a page on the
    same model; a stale value (a custom model of another session) is replaced."""
    key = f"model_{kind}"
    kw: dict = {}
    if key in st.session_state and st.session_state[key] not in choices:
        st.session_state[key] = state.model_name(kind)
    if key not in st.session_state:
        kw["index"] = choices.index(state.model_name(kind))
    st.selectbox(label, choices, key=key, help=KINDS[kind].help or None, bind=Q, **kw)


def _add_custom() -> None:
    """Button callback (runs before the widgets, so it may set the model picker's value)."""
    path = st.session_state.get("custom_model_path", "").strip()
    if not path:
        st.session_state["custom_model_msg"] = ("error", "Type a folder path or hf:<hub id> first.")
        return
    try:
        model = state.load_model_cached(path, str(state.device()))
    except XvizError as err:
        st.session_state["custom_model_msg"] = ("error", str(err))
        return
    kind = model.kind
    lst = st.session_state.setdefault(f"custom_models_{kind}", [])
    if path not in lst:
        lst.append(path)
    st.session_state[f"model_{kind}"] = path
    st.session_state["custom_model_msg"] = ("ok", f"Loaded {path} as a {kind} model.")
