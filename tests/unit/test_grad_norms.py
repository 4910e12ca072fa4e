"""Pre-LN vs post-LN gradient norms at initialisation (Xiong et al. 2020): the paper's signals, the recorder's
activation gradients against torch.autograd.grad, weight-gradient bookkeeping against .backward() on a copy."""

import copy

import pytest
import torch

from xviz.analysis.grad_norms import METRICS, layer_grad_norms, ratio_vs_depth, seed_grad_norms, zipf_tokens
from xviz.hooks import record
from xviz.models.tiny_lm import LMConfig, build_lm, lm_loss

SMALL = dict(hidden_size=64, mlp_hidden=128, num_heads=4, vocab_size=256, seq_len=32, batch=8, seeds=(0, 1, 2))


@pytest.fixture(scope="module")
def sweep():
    return {L: (layer_grad_norms(L, "pre", **SMALL), layer_grad_norms(L, "post", **SMALL)) for L in (6, 12)}


def test_post_ln_grows_with_layer_index_pre_ln_does_not(sweep):
    for L, (pre, post) in sweep.items():
        assert post.last_over_first("w1") > 1.1, (L, post.mean["w1"])
        assert pre.last_over_first("w1") < 0.9, (L, pre.mean["w1"])
        assert post.last_over_first("w1") > pre.last_over_first("w1") + 0.3


def test_post_over_pre_at_last_layer_grows_with_depth(sweep):
    r6 = sweep[6][1].last("w1") / sweep[6][0].last("w1")
    r12 = sweep[12][1].last("w1") / sweep[12][0].last("w1")
    assert r6 > 1.5 and r12 > r6 * 1.25, (r6, r12)  # Theorem 1: ∝ √L, i.e. ×1.41 from 6 to 12
    # pre-LN's last layer shrinks roughly like 1/√L (0.71 from 6 to 12); post-LN's stays within ±25 %
    pre_shrink = sweep[12][0].last("w1") / sweep[6][0].last("w1")
    post_change = sweep[12][1].last("w1") / sweep[6][1].last("w1")
    assert 0.6 < pre_shrink < 0.85, pre_shrink
    assert 0.75 < post_change < 1.25, post_change
    s = ratio_vs_depth(sweep)
    assert s["depth"] == [6.0, 12.0] and s["ratio"] == pytest.approx([r6, r12])


def test_all_metrics_present_finite_positive(sweep):
    pre, post = sweep[6]
    for res in (pre, post):
        assert set(res.mean) == set(METRICS) and res.num_layers == 6
        for k in METRICS:
            assert len(res.mean[k]) == 6 and all(0 < v < 1e3 for v in res.mean[k]), k
    assert pre.loss == pytest.approx(post.loss, rel=0.1)  # ≈ the entropy of the token distribution at init


def _tiny(pos="post", L=3, seed=0):
    cfg = LMConfig(vocab_size=50, hidden_size=32, num_layers=L, num_heads=4, mlp_hidden=64, norm_position=pos)
    model = build_lm(cfg, seed=seed)
    ids = zipf_tokens(2, 9, 50, 1.0, torch.Generator().manual_seed(seed))  # (B, N+1)
    return model, ids


@pytest.mark.parametrize("pos", ["pre", "post"])
def test_no_parameter_grad_is_touched(pos):
    model, ids = _tiny(pos)
    seed_grad_norms(model, ids)
    assert all(p.grad is None for p in model.parameters())


def test_does_not_touch_global_rng():
    state = torch.get_rng_state()
    a = layer_grad_norms(2, "post", hidden_size=32, mlp_hidden=64, vocab_size=50, seq_len=8, batch=2, seeds=(3,))
    assert torch.equal(state, torch.get_rng_state())
    b = layer_grad_norms(2, "post", hidden_size=32, mlp_hidden=64, vocab_size=50, seq_len=8, batch=2, seeds=(3,))
    assert a.mean == b.mean  # deterministic from the seed alone


@pytest.mark.parametrize("pos", ["pre", "post"])
def test_weight_grads_match_backward_on_a_copy(pos):
    model, ids = _tiny(pos)
    norms, loss = seed_grad_norms(model, ids)
    ref = copy.deepcopy(model)  # the oracle: plain .backward() on a private copy
    ref_loss = lm_loss(ref(ids[:, :-1]), ids[:, 1:])
    ref_loss.backward()
    assert loss == pytest.approx(float(ref_loss.detach()), rel=1e-6)
    for i, b in enumerate(ref.blocks):
        assert norms["w1"][i] == pytest.approx(float(b.mlp.fc1.weight.grad.norm()), rel=1e-5)
        assert norms["w2"][i] == pytest.approx(float(b.mlp.fc2.weight.grad.norm()), rel=1e-5)
        total = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in b.parameters()))
        assert norms["params"][i] == pytest.approx(float(total), rel=1e-5)


def _manual_forward(model, ids):
    """Re-implement TinyLM + Block.forward by hand, keeping every LayerNorm's input and output tensor."""
    N, d = ids.shape[1], model.cfg.hidden_size
    from xviz.layers.pos_embed import sinusoidal

    x = model.embed(ids) * d**0.5 + sinusoidal(N, d)
    mask = torch.ones(N, N, dtype=torch.bool).tril()
    taps = {}
    for i, b in enumerate(model.blocks):
        if b.norm_position == "pre":
            taps[f"{i}.norm1.in"] = x
            taps[f"{i}.norm1.out"] = h = torch.nn.functional.layer_norm(x, (d,), b.norm1.weight, b.norm1.bias)
            x = x + b.attn(h, mask)
            taps[f"{i}.norm2.in"] = x
            taps[f"{i}.norm2.out"] = h = torch.nn.functional.layer_norm(x, (d,), b.norm2.weight, b.norm2.bias)
            x = x + b.mlp(h)
        else:
            taps[f"{i}.norm1.in"] = s = x + b.attn(x, mask)
            taps[f"{i}.norm1.out"] = x = torch.nn.functional.layer_norm(s, (d,), b.norm1.weight, b.norm1.bias)
            taps[f"{i}.norm2.in"] = s = x + b.mlp(x)
            taps[f"{i}.norm2.out"] = x = torch.nn.functional.layer_norm(s, (d,), b.norm2.weight, b.norm2.bias)
    return model.head(model.norm_f(x)), taps


@pytest.mark.parametrize("pos", ["pre", "post"])
def test_recorded_layernorm_grads_equal_autograd(pos):
    model, ids = _tiny(pos)
    with record(model, names="blocks.*.norm[12].hook_*", grads=True) as rec:
        loss = lm_loss(model(ids[:, :-1]), ids[:, 1:])
    rec.backward(loss)
    logits, taps = _manual_forward(model, ids[:, :-1])
    ref_loss = lm_loss(logits, ids[:, 1:])
    assert float(ref_loss.detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    grads = dict(zip(taps, torch.autograd.grad(ref_loss, list(taps.values()))))
    for key, g in grads.items():
        i, ln, side = key.split(".")
        got = rec[f"blocks.{i}.{ln}.hook_{side}_grad"]
        torch.testing.assert_close(got, g, rtol=1e-5, atol=1e-8)
    assert all(p.grad is None for p in model.parameters())
    # and seed_grad_norms reports the Frobenius norms of exactly these tensors
    norms, _ = seed_grad_norms(model, ids)
    assert norms["norm2_in"][1] == pytest.approx(float(grads["1.norm2.in"].norm()), rel=1e-5)


def test_mean_is_average_over_seeds():
    kw = dict(hidden_size=32, mlp_hidden=64, vocab_size=50, seq_len=8, batch=2)
    both = layer_grad_norms(2, "pre", seeds=(0, 1), **kw)
    a, b = (layer_grad_norms(2, "pre", seeds=(s,), **kw) for s in (0, 1))
    for k in METRICS:
        assert both.mean[k] == pytest.approx([(x + y) / 2 for x, y in zip(a.mean[k], b.mean[k])], rel=1e-9)
        assert both.std[k] == pytest.approx([abs(x - y) / 2 for x, y in zip(a.mean[k], b.mean[k])], rel=1e-6)


def test_zipf_tokens_are_skewed():
    ids = zipf_tokens(64, 64, 100, 1.0, torch.Generator().manual_seed(0))
    counts = torch.bincount(ids.flatten(), minlength=100).double()
    assert counts[0] / counts[9] == pytest.approx(10, rel=0.25)  # p(k) ∝ 1/k
    uni = zipf_tokens(64, 64, 100, 0.0, torch.Generator().manual_seed(0))
    assert torch.bincount(uni.flatten(), minlength=100).min() > 15


def test_bad_arguments():
    with pytest.raises(ValueError, match="norm_position"):
        layer_grad_norms(2, "middle")
    with pytest.raises(ValueError, match="seed"):
        layer_grad_norms(2, "pre", seeds=())


@pytest.mark.gpu
def test_cuda_gives_the_cpu_numbers():
    kw = dict(hidden_size=32, mlp_hidden=64, vocab_size=50, seq_len=8, batch=2, seeds=(0, 1))
    for pos in ("pre", "post"):
        cpu = layer_grad_norms(3, pos, **kw)
        gpu = layer_grad_norms(3, pos, device="cuda", **kw)
        for k in METRICS:
            assert gpu.mean[k] == pytest.approx(cpu.mean[k], rel=1e-2), (pos, k)
