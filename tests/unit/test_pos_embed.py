"""Positional encodings against their formulas and properties (Vaswani §3.5, MAE layout, RoFormer, ALiBi)."""

import math

import pytest
import torch

from xviz.layers import pos_embed as P


def test_sinusoidal_values_match_the_formula():
    pe = P.sinusoidal(50, 128)
    for p in (0, 1, 7, 49):
        for i in (0, 1, 10, 63):
            w = 1.0 / 10000 ** (2 * i / 128)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(p * w), abs=1e-6)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(p * w), abs=1e-6)
    assert torch.equal(pe[0, 0::2], torch.zeros(64)) and torch.equal(pe[0, 1::2], torch.ones(64))


def test_wavelengths_run_from_2pi_to_10000_2pi():
    wl = P.wavelengths(128)
    assert wl[0].item() == pytest.approx(2 * math.pi) and wl[1] == wl[0]
    assert wl[-1].item() == pytest.approx(2 * math.pi * 10000 ** (126 / 128))
    assert torch.all(wl[2::2] > wl[:-2:2])


@pytest.mark.parametrize("k", [1, 5, 37, 200])
def test_transform_matrix_shifts_positions(k):
    pe = P.sinusoidal(300 + k, 64)
    M = P.transform_matrix(k, 64)
    pred = pe[:300] @ M.T  # M_k · PE(p) for every p (row form)
    assert (pred - pe[k : k + 300]).abs().max() < 1e-5
    # M_k is orthogonal and block-diagonal with the 2×2 rotations of the references
    assert torch.allclose(M @ M.T, torch.eye(64), atol=1e-6)
    w0 = 1.0 * k
    assert M[0, 0].item() == pytest.approx(math.cos(w0), abs=1e-6)
    assert M[0, 1].item() == pytest.approx(math.sin(w0), abs=1e-6)
    assert M[1, 0].item() == pytest.approx(-math.sin(w0), abs=1e-6)
    assert M[0, 2:].abs().max() == 0


def test_dot_product_depends_only_on_the_offset():
    pe = P.sinusoidal(200, 128).double()
    S = pe @ pe.T
    w = P.frequencies(128)
    for k in (0, 1, 10, 100):
        d = torch.diagonal(S, k)
        assert (d.max() - d.min()) < 1e-4
        assert d[0].item() == pytest.approx(float(torch.cos(w * k).sum()), abs=1e-4)
    assert S[0, 0].item() == pytest.approx(64, abs=1e-4)  # d/2 at k = 0


def test_sincos_2d_layout_column_first_and_cls_zero_row():
    gh, gw, D = 3, 5, 16
    pe = P.sincos_2d(gh, gw, D, cls_token=True)
    assert pe.shape == (1 + gh * gw, D)
    assert torch.equal(pe[0], torch.zeros(D))
    omega = 1.0 / 10000 ** (torch.arange(4, dtype=torch.float64) / 4)  # D/4 frequencies per axis
    for r in range(gh):
        for c in range(gw):
            row = pe[1 + r * gw + c].double()  # tokens are row-major
            col_part = torch.cat([(c * omega).sin(), (c * omega).cos()])
            row_part = torch.cat([(r * omega).sin(), (r * omega).cos()])
            assert torch.allclose(row[: D // 2], col_part, atol=1e-6)  # trap: first half = COLUMN
            assert torch.allclose(row[D // 2 :], row_part, atol=1e-6)
    # ViT-B/16 shape
    assert P.sincos_2d(14, 14, 768, cls_token=True).shape == (197, 768)


def test_sincos_2d_token_1_differs_from_token_gw_in_the_first_half():
    pe = P.sincos_2d(4, 4, 32)
    # token 1 = (row 0, col 1): its first half moves, its second half equals token 0's
    assert not torch.allclose(pe[1, :16], pe[0, :16]) and torch.allclose(pe[1, 16:], pe[0, 16:])
    assert torch.allclose(pe[4, :16], pe[0, :16]) and not torch.allclose(pe[4, 16:], pe[0, 16:])


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_score_depends_only_on_the_offset(interleaved):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 32, generator=g, dtype=torch.float64)
    pos = torch.arange(40)
    S = P.rope_scores(q, k, pos, pos, interleaved=interleaved)
    for o in range(-39, 40):
        d = torch.diagonal(S, o)
        assert (d.max() - d.min()) < 1e-9
    # shifting both positions by the same amount leaves the score unchanged, also for whole batches
    x = torch.randn(2, 3, 10, 16, generator=g, dtype=torch.float64)
    y = torch.randn(2, 3, 10, 16, generator=g, dtype=torch.float64)
    a = P.rope(x, interleaved=interleaved) @ P.rope(y, interleaved=interleaved).transpose(-2, -1)
    b = P.rope(x, torch.arange(10) + 77, interleaved=interleaved) @ P.rope(
        y, torch.arange(10) + 77, interleaved=interleaved
    ).transpose(-2, -1)
    assert torch.allclose(a, b, atol=1e-10)


def test_rope_rotates_pairs_and_keeps_norms():
    x = torch.zeros(1, 4)
    x[0, 0] = 1.0  # pair 0 = (1, 0), θ_0 = 1
    out = P.rope(torch.cat([x, x, x]), torch.tensor([0, 1, 3]))
    assert torch.allclose(out[:, 0], torch.tensor([1.0, math.cos(1), math.cos(3)]), atol=1e-6)
    assert torch.allclose(out[:, 1], torch.tensor([0.0, math.sin(1), math.sin(3)]), atol=1e-6)
    halves = P.rope(torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([2]), interleaved=False)
    assert torch.allclose(halves, torch.tensor([[math.cos(2), 0.0, math.sin(2), 0.0]]), atol=1e-6)
    r = torch.randn(5, 7, 64)
    assert torch.allclose(P.rope(r).norm(dim=-1), r.norm(dim=-1), atol=1e-5)


def test_alibi_slopes():
    assert torch.allclose(P.alibi_slopes(8), torch.tensor([2.0**-i for i in range(1, 9)]))
    assert torch.allclose(P.alibi_slopes(16)[:2], torch.tensor([2**-0.5, 2**-1.0]))
    # 12 heads (not a power of 2): 8 slopes of n=8, then every other slope of n=16
    s16 = [2.0 ** (-0.5 * i) for i in range(1, 17)]
    expected = [2.0**-i for i in range(1, 9)] + s16[0::2][:4]
    assert torch.allclose(P.alibi_slopes(12), torch.tensor(expected))
    assert P.alibi_slopes(1).tolist() == [2.0**-8]


def test_alibi_bias_is_minus_slope_times_distance():
    b = P.alibi_bias(8, 6)
    assert b.shape == (8, 6, 6)
    assert b[0, 5, 2].item() == pytest.approx(-0.5 * 3)
    assert b[7, 0, 4].item() == pytest.approx(-(2**-8) * 4)
    assert torch.equal(torch.diagonal(b, dim1=1, dim2=2), torch.zeros(8, 6))


def test_swin_relative_bias_gathers_by_offset():
    M, H = 3, 2
    table = torch.randn((2 * M - 1) ** 2, H)
    bias = P.swin_relative_bias(table, M)
    assert bias.shape == (H, M * M, M * M)
    # token 0 = (0,0), token 8 = (2,2): Δ = (−2, −2) → row (0)·5 + 0 = 0; reversed: (2+2)·5 + 4 = 24
    assert torch.equal(bias[:, 0, 8], table[0]) and torch.equal(bias[:, 8, 0], table[24])
    assert torch.equal(bias[:, 4, 4], table[12])  # Δ = 0 → the centre of the table
