"""Figures of the shapes-world models (clip-shapes, swin-shapes, mae-shapes): their training curves."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from xviz.plots.style import base_layout, subplot_titles

Panel = tuple[str, list[tuple[str, str]]]  # (panel title, [(CSV column, trace name), …])


def curve_figure(curve: dict[str, list[float]], panels: list[Panel], title: str) -> go.Figure:
    """A training log (`xviz.plots.export.read_csv_columns`) as panels stacked over a shared step axis."""
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.1, subplot_titles=[p[0] for p in panels]
    )
    for row, (_, traces) in enumerate(panels, start=1):
        for column, name in traces:
            fig.add_trace(go.Scatter(x=curve["step"], y=curve[column], name=name), row=row, col=1)
    fig.update_xaxes(title_text="step", row=len(panels), col=1)
    fig.update_layout(
        **base_layout(title, height=260 * len(panels) + 60), width=820, legend=dict(orientation="h", y=-0.1, x=0)
    )
    return subplot_titles(fig)
