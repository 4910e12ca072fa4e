"""Analysis and figure builders of the Positional-encoding page, on formulas and on MiniLM's learned table."""

import math

import pytest
import torch
from torch import nn

from xviz.analysis import positional as A
from xviz.layers import pos_embed
from xviz.plots import positional as pos_plots
from xviz.plots import positional_rel as rel_plots


def test_transform_check_error_is_float_roundoff():
    chk = A.transform_check(50, 128, 5)
    assert chk.M.shape == (128, 128) and chk.error.shape == (50,)
    assert chk.max_error < 1e-5


def test_offset_curve_of_sinusoidal_dot_matches_formula_and_has_no_spread():
    sim = A.similarity(pos_embed.sinusoidal(100, 64), "dot")
    c = A.offset_curve(sim, 40)
    assert len(c.offsets) == 41 and c.std.max() < 1e-4
    assert torch.allclose(c.mean, A.sinusoidal_dot_formula(c.offsets, 64).float(), atol=1e-4)
    assert c.mean[0].item() == pytest.approx(32, abs=1e-4)
    cos = A.similarity(pos_embed.sinusoidal(100, 64), "cosine")
    assert torch.allclose(cos.diagonal(), torch.ones(100), atol=1e-6)
    assert torch.allclose(cos, sim / 32, atol=1e-5)  # every row has norm √(d/2)


def test_minilm_learned_table_is_found_and_not_offset_only(minilm):
    lt = A.find_position_table(minilm)
    assert lt.name == "embed.position.weight" and lt.grid is None
    assert torch.equal(lt.table, minilm.embed.position.weight.detach())
    c = A.offset_curve(A.similarity(lt.table[:128]), 32)
    assert c.std[5:].min() > 0.02  # learned similarity depends on p, not only k


class _FakeViT(nn.Module):
    kind = "image"

    def __init__(self, side=5, prefix=1, dim=8):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.randn(1, prefix + side * side, dim))
        self.register_buffer("fixed", torch.zeros(3))


def test_vision_table_grid_and_absence():
    m = _FakeViT()
    lt = A.find_position_table(m)
    assert lt.grid == (5, 5) and lt.prefix == 1 and torch.equal(lt.table, m.pos_embed[0, 1:].detach())
    assert A.find_position_table(nn.Linear(3, 3)) is None  # no table: handled, not an error
    sim4 = A.grid_similarity(lt.table, lt.grid)
    assert sim4.shape == (5, 5, 5, 5)
    assert torch.allclose(sim4[2, 3, 2, 3], torch.tensor(1.0), atol=1e-6)
    t = lt.table
    expected = float(torch.cosine_similarity(t[2 * 5 + 3], t[0 * 5 + 4], dim=0))
    assert sim4[2, 3, 0, 4].item() == pytest.approx(expected, abs=1e-5)
    mos = A.grid_mosaic(sim4, stride=2)  # tiles of rows/cols 0, 2, 4
    assert mos.shape == (3 * 6, 3 * 6)
    assert torch.equal(mos[6:11, 12:17], sim4[2, 4])  # tile (1, 2) = patch (2, 4)
    assert torch.isnan(mos[5]).all()  # separator


def test_rope_demo_and_alibi():
    d = A.rope_demo(24, 16, seed=1)
    assert d.offset_spread < 1e-9 and d.scores.shape == (24, 24) and d.curve.shape == (47,)
    assert d.curve[23].item() == pytest.approx(d.scores[0, 0].item(), abs=1e-5)  # offset 0
    slopes, bias = A.alibi(8, 5)
    assert bias[0, 4, 0].item() == pytest.approx(-0.5 * 4)


def test_unseen_angle_fraction():
    f = A.unseen_angle_fraction(2048, 512, 64)
    assert f[:512].max() == 0
    w = pos_embed.frequencies(64)
    slow = float(((w * 511) < 2 * math.pi).double().mean())  # pairs that never completed a turn
    assert 0 < f[-1].item() <= slow + 1e-6
    assert f[600:].min() > 0


@pytest.mark.parametrize("kind", ["sinusoidal", "2-D sin-cos", "RoPE", "ALiBi"])
def test_position_matrix_kinds(kind):
    m = A.position_matrix(kind, 36, 32)
    assert m.shape == (36, 36)
    if kind in ("sinusoidal", "RoPE", "ALiBi"):  # functions of the offset only
        assert A.offset_curve(m).std.max() < 1e-4
    else:  # 2-D grid: 1-D offsets are not enough
        assert A.offset_curve(m).std.max() > 0.05


def test_figures_build_with_the_right_data():
    fig = pos_plots.pe_heatmap(pos_embed.sinusoidal(50, 128), pos_embed.wavelengths(128))
    assert fig.data[0].z.shape == (50, 128) and fig.data[1].y[0] == pytest.approx(2 * math.pi, rel=1e-6)
    big = pos_plots.similarity_figure(A.similarity(pos_embed.sinusoidal(300, 16)), "s")
    assert big.data[0].type == "image"  # > 96 positions: server-side image
    assert pos_plots.transform_figure(A.transform_check(20, 16, 3)).data[0].z.shape == (16, 16)
    assert rel_plots.rope_figure(A.rope_demo(8, 8)).data[1].x.tolist() == list(range(-7, 8))
    al = rel_plots.alibi_figure(*A.alibi(12, 6))
    assert sum(t.type == "heatmap" for t in al.data) == 8 and len(al.data[-1].y) == 12
    assert len(rel_plots.beyond_figure(A.unseen_angle_fraction(100, 50, 16), 50, torch.ones(60)).data) == 2


def test_relative_bias_table_found_and_gathered():
    class Swinish(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Module()])
            self.blocks[0].table = nn.Parameter(torch.randn(25, 2))  # (2M−1)² rows for M = 3, 2 heads

    name, table, M = A.find_relative_bias_table(Swinish())
    assert name == "blocks.0.table" and M == 3
    bias = pos_embed.swin_relative_bias(table, M)
    # the bias depends only on the 2-D offset: tokens (0,0)→(1,1) and (1,1)→(2,2) share Δ = (−1, −1)
    assert torch.equal(bias[:, 0, 4], bias[:, 4, 8])
    assert A.find_relative_bias_table(nn.Linear(2, 2)) is None
