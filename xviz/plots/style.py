"""One visual language across pages: colour scales, fonts, sizes."""

import plotly.graph_objects as go

PROB_SCALE = "Viridis"  # probabilities / non-negative magnitudes
SIGNED_SCALE = "RdBu_r"  # signed values and A − B differences (centred at 0)
SEQ_SCALE = "Blues"  # statistics per layer × head
MASK_SCALE = [[0, "#f3f3f3"], [1, "#1f5fa8"]]  # boolean masks: True = may attend (dark)
FONT = dict(family="Inter, Helvetica, Arial, sans-serif", size=12)
SUBTITLE_SIZE = 12  # subplot titles sit under the figure title (14 px), never above it in size
MAX_LABELLED = 96  # above this many tokens, heatmaps become server-rendered images without labels


def base_layout(title: str | None = None, height: int = 420) -> dict:
    return dict(
        title=dict(text=title or "", x=0.01, font=dict(size=14)),
        height=height,
        font=FONT,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        template="plotly_white",
    )


def subplot_titles(fig, size: int = SUBTITLE_SIZE):
    """make_subplots writes its panel titles at 16 px, larger than the figure title: bring them to `size`."""
    fig.update_annotations(font_size=size)
    return fig


def colorbar_trace(colorscale, lo: float, hi: float, title: str | None, thickness: int = 12) -> go.Scatter:
    """An invisible one-point trace whose only job is a colour bar (for figures drawn as images, which have none)."""
    scale = colorscale if isinstance(colorscale, str) else [list(c) for c in colorscale]
    bar = dict(thickness=thickness, title=title)
    marker = dict(colorscale=scale, cmin=lo, cmax=hi, color=[lo], showscale=True, colorbar=bar)
    return go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip", marker=marker)
