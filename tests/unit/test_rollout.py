"""Rollout, mean attention distance, sink detection and DeepViT collapse against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from xviz.analysis.collapse import cross_layer_similarity, per_head_similarity
from xviz.analysis.head_stats import (
    attention_received,
    high_norm_tokens,
    max_norm_ratio_per_layer,
    mean_attention_distance,
    sink_tokens,
)
from xviz.analysis.rollout import (
    all_head_maps,
    attention_map,
    rollout,
    rollout_row,
    rollout_uniform_closed_form,
    token_map,
)


@pytest.mark.parametrize("layers,n,heads", [(1, 5, 2), (3, 7, 4), (6, 10, 1)])
def test_rollout_uniform_closed_form(layers, n, heads):
    probs = torch.full((layers, heads, n, n), 1.0 / n)
    r = rollout(probs)
    # ((U + I)/2)^L = 2^-L·I + (1 − 2^-L)·U, U = 11ᵀ/n: the diagonal keeps 2^-L + (1 − 2^-L)/n
    torch.testing.assert_close(r, rollout_uniform_closed_form(n, layers))
    assert r[0, 0].item() == pytest.approx(0.5**layers + (1 - 0.5**layers) / n)
    assert r[0, 1].item() == pytest.approx((1 - 0.5**layers) / n)
    for fusion in ("mean", "max", "min"):  # all heads equal: fusion does not matter
        torch.testing.assert_close(rollout_row(probs, 2, fusion), r[2])


def test_rollout_max_fusion_renormalises_rows_by_hand():
    a = torch.tensor([[[0.9, 0.1], [0.3, 0.7]], [[0.2, 0.8], [0.6, 0.4]]])  # (H=2, 2, 2)
    probs = a[None]  # one layer
    # max over heads: [[0.9, 0.8], [0.6, 0.7]]; ·0.5 + 0.5·I: [[0.95, 0.4], [0.3, 0.85]]; rows / their own sum
    expect = torch.tensor([[0.95 / 1.35, 0.4 / 1.35], [0.3 / 1.15, 0.85 / 1.15]])
    torch.testing.assert_close(rollout(probs, "max"), expect)
    wrong = torch.tensor([[0.95, 0.4], [0.3, 0.85]]) / torch.tensor([1.35, 1.15])  # the axis trap: columns
    assert not torch.allclose(rollout(probs, "max"), wrong)
    two = torch.stack([a, a.flip(0)])  # 2 layers: R = Â2·Â1
    m1 = rollout(two[:1], "min")
    m2 = rollout(two[1:], "min")
    torch.testing.assert_close(rollout(two, "min"), m2 @ m1)
    torch.testing.assert_close(rollout(two, "min").sum(-1), torch.ones(2))
    torch.testing.assert_close(rollout_row(two, 1, "min"), (m2 @ m1)[1])


def test_maps_on_grid():
    L, H, P, gh, gw = 2, 3, 1, 2, 3
    n = P + gh * gw
    probs = torch.softmax(torch.randn(L, H, n, n, generator=torch.Generator().manual_seed(0)), -1)
    m = attention_map(probs[1], query=0, head=2, num_prefix=P, grid=(gh, gw))
    torch.testing.assert_close(m, probs[1, 2, 0, 1:].reshape(2, 3))
    torch.testing.assert_close(attention_map(probs[1], 3, None, P, (gh, gw)), probs[1, :, 3, 1:].mean(0).reshape(2, 3))
    torch.testing.assert_close(all_head_maps(probs, 0, P, (gh, gw))[1, 2], m)
    torch.testing.assert_close(token_map(torch.arange(7.0), 1, (2, 3)), torch.arange(1.0, 7).reshape(2, 3))


def test_mean_attention_distance_by_hand():
    gh = gw = 2
    n = 1 + 4
    uniform = torch.zeros(1, 1, n, n)
    uniform[..., 1:] = 0.2
    uniform[..., 0] = 0.2  # 20 % on CLS: dropped and the rest renormalised
    d = mean_attention_distance(uniform, (gh, gw), 10, num_prefix=1)
    assert d.item() == pytest.approx((0 + 10 + 10 + 10 * math.sqrt(2)) / 4, rel=1e-5)
    raw = mean_attention_distance(uniform, (gh, gw), 10, 1, renormalise=False)
    assert raw.item() == pytest.approx(0.8 * d.item(), rel=1e-5)
    self_attn = torch.eye(n)[None, None]
    assert mean_attention_distance(self_attn, (gh, gw), 10, 1).item() == 0.0
    valid = torch.tensor([True, True, False, False])  # bottom row is padding
    dv = mean_attention_distance(uniform, (gh, gw), 10, 1, valid=valid)
    assert dv.item() == pytest.approx(5.0, rel=1e-5)  # top row only: distances 0 and 10


def test_sinks_and_high_norm_tokens():
    norms = torch.tensor([5.0, 1.0, 1.1, 0.9, 4.0, 1.0])  # CLS, then patches; patch 4 is 4× the median
    assert high_norm_tokens(norms, num_prefix=1, factor=2.0) == [4]
    probs = torch.full((2, 6, 6), 0.02)
    probs[..., 4] = 0.9  # every query puts 90 % on token 4
    assert sink_tokens(probs, factor=3.0) == [4]
    assert attention_received(probs)[4].item() == pytest.approx(0.9)
    resid = torch.ones(2, 6, 4)
    resid[1, 3] *= 10
    torch.testing.assert_close(max_norm_ratio_per_layer(resid, 1), torch.tensor([1.0, 10.0]))


def test_collapse_identical_layers_and_bounds():
    g = torch.Generator().manual_seed(1)
    a = torch.softmax(torch.randn(3, 9, 9, generator=g), -1)
    b = torch.softmax(torch.randn(3, 9, 9, generator=g) * 3, -1)
    probs = torch.stack([a, a, b])  # layers 0 and 1 identical
    sim = cross_layer_similarity(probs)
    torch.testing.assert_close(sim.diagonal(), torch.ones(3))
    assert sim[0, 1].item() == pytest.approx(1.0, abs=1e-6) and sim[0, 2] < 0.95 and sim[0, 2] > 0
    torch.testing.assert_close(sim, sim.T)
    cols = lambda m: m / m.norm(dim=-2, keepdim=True)  # noqa: E731  (reference: cosine per head and key column)
    ref = (cols(a) * cols(b)).sum(-2).mean()
    assert sim[0, 2].item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(per_head_similarity(probs).mean(-1), sim)


def test_collapse_on_a_text_recording_ignores_padding(minilm):
    import xviz

    batch = minilm.prepare(["A short one.", "A somewhat longer sentence with more tokens in it."])
    with torch.no_grad(), xviz.record(minilm, names="*.hook_probs") as rec:
        minilm(**batch)
    probs = rec.stack("probs")  # (L, B, H, N, N)
    sim = cross_layer_similarity(probs, batch["attention_mask"].bool())
    assert sim.shape == (6, 6)
    torch.testing.assert_close(sim.diagonal(), torch.ones(6))
    assert ((sim > 0) & (sim <= 1 + 1e-6)).all()
    n0 = int(batch["attention_mask"][0].sum())
    assert n0 < probs.shape[-1]  # the first sentence is padded
    short = cross_layer_similarity(probs[:, :1, :, :n0, :n0])  # first sentence alone, its real tokens only
    both = cross_layer_similarity(probs[:, :1], batch["attention_mask"][:1].bool())
    np.testing.assert_allclose(both.numpy(), short.numpy(), atol=1e-5)
