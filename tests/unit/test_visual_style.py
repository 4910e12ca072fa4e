"""One visual language: every figure goes through widgets.figure (downloads + caption), colour scales follow
xviz.plots.style, panel titles never outgrow the figure title."""

import ast
import glob
import os

import torch
from helpers import ROOT

from xviz.analysis import positional as A
from xviz.plots import positional as pos_plots
from xviz.plots import positional_rel as rel_plots
from xviz.plots.heatmap import heatmap
from xviz.plots.style import PROB_SCALE, SUBTITLE_SIZE
from xviz.plots.vision import OVERLAY_SCALE

# redrawn about once a second while training runs; the finished run is drawn through widgets.figure
LIVE_REDRAW = {"xviz/app/layernorm.py"}


def _calls(path: str, name: str) -> list[int]:
    tree = ast.parse(open(os.path.join(ROOT, path)).read())
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == name
    ]


def test_every_chart_goes_through_widgets_figure():
    files = [
        os.path.relpath(p, ROOT)
        for p in glob.glob(os.path.join(ROOT, "views", "*.py")) + glob.glob(os.path.join(ROOT, "xviz", "app", "*.py"))
    ]
    direct = {f: _calls(f, "plotly_chart") for f in files if f != "xviz/app/widgets.py"}
    assert {f for f, lines in direct.items() if lines} <= LIVE_REDRAW, direct
    assert all(not _calls(f, "pyplot") and not _calls(f, "altair_chart") for f in files)


def test_panel_titles_are_not_larger_than_the_figure_title():
    figs = [
        pos_plots.transform_figure(A.transform_check(20, 16, 3)),
        rel_plots.rope_figure(A.rope_demo(8, 8)),
        rel_plots.alibi_figure(*A.alibi(4, 6)),
    ]
    for fig in figs:
        assert fig.layout.annotations, fig.layout.title.text
        assert all(a.font.size == SUBTITLE_SIZE for a in fig.layout.annotations)
        assert fig.layout.title.font.size >= SUBTITLE_SIZE


def test_probability_maps_share_one_scale():
    assert OVERLAY_SCALE == PROB_SCALE  # image overlays, like token heatmaps, MAE errors and Swin windows
    fig = heatmap(torch.softmax(torch.randn(5, 5), -1), list("abcde"), list("abcde"), zmin=0.0)
    scale = fig.data[0].colorscale
    viridis = heatmap(torch.rand(2, 2), colorscale="Viridis").data[0].colorscale
    assert scale == viridis and fig.data[0].zmin == 0.0
    assert fig.layout.xaxis.title.text == "key token" and fig.layout.yaxis.title.text == "query token"


def test_crowded_token_labels_get_room():
    toks = [f"w{i}" for i in range(40)]
    fig = heatmap(torch.rand(40, 40), toks, toks, height=460)
    assert fig.layout.height > 460 and list(fig.layout.yaxis.ticktext) == toks  # every token still labelled
    few = heatmap(torch.rand(6, 6), toks[:6], toks[:6], height=460)
    assert few.layout.height == 460 and few.layout.yaxis.tickfont.size == 12
