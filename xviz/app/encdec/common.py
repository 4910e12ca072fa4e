"""The Encoder–decoder page's shared state: the chosen model, task and source (`Ctx`) and the cached recording."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from xviz.analysis import encdec
from xviz.app import state


@dataclass
class Ctx:
    model: object
    name: str
    task: str
    source: str


@st.cache_resource(max_entries=32, show_spinner="Running the encoder–decoder…")
def cached_encdec_run(name: str, device: str, source: str, task: str, target: str | None, nat: bool) -> encdec.Run:
    """Keyed on plain values; the shared model is only read (record() is context-scoped)."""
    return encdec.record_run(state.load_model_cached(name, device), source, task, target, nat)
