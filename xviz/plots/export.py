"""Figure export: interactive HTML always; PNG/SVG through kaleido (needs a Chrome/Chromium on the server)."""

from __future__ import annotations

import csv
import os
import shutil
from io import BytesIO
from pathlib import Path

import plotly.graph_objects as go
from PIL import Image, ImageDraw

_SVG_FALLBACK = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="80"><text x="10" y="40">'
    "Static export needs the kaleido package and a Chromium on the server; "
    "use the HTML download or the camera icon on the figure.</text></svg>"
)


def figure_html(fig: go.Figure) -> str:
    """Self-contained interactive HTML (plotly.js embedded, works offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def figure_image(fig: go.Figure, fmt: str = "png", scale: float = 2.0) -> bytes:
    """PNG or SVG bytes. Without kaleido/Chromium, an SVG/PNG that says so instead of failing."""
    if "BROWSER_PATH" not in os.environ:
        for exe in ("chromium", "chromium-browser", "google-chrome"):
            if shutil.which(exe):
                os.environ["BROWSER_PATH"] = shutil.which(exe)
                break
    try:
        return fig.to_image(format=fmt, scale=scale)
    except Exception:  # kaleido missing or no browser: degrade, never crash the page
        if fmt == "svg":
            return _SVG_FALLBACK.encode()

        im = Image.new("RGB", (900, 60), "white")
        ImageDraw.Draw(im).text(
            (10, 20), "Static export needs kaleido + Chromium; use the HTML download.", fill="black"
        )
        buf = BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()


def read_csv_columns(csv_path) -> dict[str, list[float]]:
    """A training log (header row, numbers below) → {column: values}."""

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else [])}


def save_curve_png(figure_of, csv_path, png_path) -> None:
    """The PNG beside shipped weights: `figure_of(read_csv_columns(csv_path))` rendered once."""

    Path(png_path).write_bytes(figure_image(figure_of(read_csv_columns(csv_path)), "png", scale=1.5))
