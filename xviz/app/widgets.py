"""Shared widgets: figures with PNG/SVG/HTML downloads, recording export, error display."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator

import plotly.graph_objects as go
import streamlit as st

from xviz.errors import XvizError
from xviz.hooks import Recording
from xviz.plots.export import figure_html, figure_image

# The one URL mechanism: a widget made with bind=Q keeps its value in the URL under its key (?attn_layer=3), so a
# copied link reopens the same view. Defaults are left out of the URL; invalid values are dropped by Streamlit.
Q = "query-params"

# label, file extension, MIME type, maker (called only when the button is clicked)
FIGURE_DOWNLOADS = [
    ("PNG", "png", "image/png", functools.partial(figure_image, fmt="png")),
    ("SVG", "svg", "image/svg+xml", functools.partial(figure_image, fmt="svg")),
    ("HTML (interactive)", "html", "text/html", figure_html),
]
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "figure"


def figure(
    fig: go.Figure, key: str, caption: str | None = None, downloads: bool = True, on_select: str = "ignore"
) -> object:
    """Show a plotly figure with a caption and PNG/SVG/HTML downloads (made only when clicked)."""
    state = st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG, on_select=on_select, width="stretch")
    if caption:
        st.caption(caption)
    if downloads:
        stem = _slug(key)
        with st.popover("Download", icon=":material/download:"):
            for label, ext, mime, make in FIGURE_DOWNLOADS:
                st.download_button(
                    label,
                    data=functools.partial(make, fig),
                    file_name=f"{stem}.{ext}",
                    mime=mime,
                    key=f"{key}_{ext}",
                    on_click="ignore",
                )
    return state


def recording_downloads(rec: Recording, stem: str, key: str) -> None:
    """The recording as .npz (tensors) and .json (model, input, seed, dtype, device, shapes)."""
    c1, c2, _ = st.columns([1, 1, 5])
    c1.download_button(
        "Recording (.npz)",
        data=rec.to_npz_bytes,
        file_name=f"{stem}.npz",
        mime="application/octet-stream",
        key=f"{key}_npz",
        on_click="ignore",
    )
    c2.download_button(
        "Run config (.json)",
        data=rec.meta_json,
        file_name=f"{stem}.json",
        mime="application/json",
        key=f"{key}_json",
        on_click="ignore",
    )


def lazy_tabs(tabs: dict[str, Callable[..., None]], key: str, *args) -> None:
    """Tabs of which only the open one runs (`on_change="rerun"`: a click reruns the page), its label in the URL.
    The renderer is looked up by label, so reordering the dict can never run the wrong tab."""
    opened = st.tabs(list(tabs), key=key, on_change="rerun", bind=Q)
    index = next((i for i, t in enumerate(opened) if getattr(t, "open", False)), 0)
    with opened[index]:
        tabs[list(tabs)[index]](*args)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show an XvizError's message (never a traceback) and stop this page run; the session stays usable."""
    try:
        yield
    except XvizError as err:
        st.error(str(err))
        st.stop()


def literal(text: str) -> str:
    """Escape user text for st.markdown so markup is shown, never rendered."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", text)
