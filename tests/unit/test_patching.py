"""Activation patching, attribution patching and direct logit attribution on small random-init Llama / GPT-2
models: the batched sweep equals the cell-by-cell reference, hand cases (a patch that changes nothing, a patch
that restores the whole clean run), the gradient against finite differences, sums that must close, and every bad
input gives an InputError with a sentence a user can act on."""

import pytest
import torch
from circuit_models import pair, save_gpt2, save_llama

import xviz
from xviz.analysis import attribution, attribution_patching, patching
from xviz.analysis.circuit_inputs import normalise, prompt_pairs
from xviz.errors import InputError

ALL_SITES = ("resid_pre", "attn_out", "mlp_out", "z", "q", "k", "v", "pattern")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return xviz.load_model(str(save_llama(tmp_path_factory.mktemp("llama"))))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    return xviz.load_model(str(save_gpt2(tmp_path_factory.mktemp("gpt2"))))


def _pairs(model, pairs=1, seed=0, at=3):
    return prompt_pairs(model, *pair(model.vocab_size, pairs=pairs, seed=seed, at=at))


@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_batched_sweep_equals_cell_by_cell(which, request):
    model = request.getfixturevalue(which)
    pairs = _pairs(model, pairs=2)
    for site in ALL_SITES:
        grown = patching.sweep(model, pairs, site, batch_rows=7)  # several batches, rows grown layer by layer
        flat = patching.sweep(model, pairs, site, share_prefix=False)
        slow = patching.sweep_cell_by_cell(model, pairs, site)
        torch.testing.assert_close(grown.values, slow.values, atol=2e-5, rtol=1e-5, msg=site)
        torch.testing.assert_close(flat.values, slow.values, atol=2e-5, rtol=1e-5, msg=site)
        n = model.num_kv_heads if site in ("k", "v") else model.num_heads
        assert grown.values.shape == (2, model.num_layers, pairs.num_tokens if site in patching.POSITION_SITES else n)
    assert slow.values.abs().max() > 0.3  # logit differences of O(1): the comparisons above are not of zeros


def test_hand_cases_of_the_first_layer(llama):
    """Layer 0's resid_pre at p is token p's embedding: patching a position where both prompts have the same token
    changes nothing (= corrupted), patching the one differing position gives the clean run exactly."""
    pairs = _pairs(llama, at=3)
    res = patching.sweep(llama, pairs, "resid_pre")
    row = res.values[0, 0]  # (N,) layer 0
    same = [p for p in range(pairs.num_tokens) if p != 3]
    torch.testing.assert_close(row[same], res.corrupt.expand(len(same)), atol=1e-5, rtol=0)
    torch.testing.assert_close(row[3], res.clean[0], atol=1e-5, rtol=0)
    assert abs(float(res.clean[0] - res.corrupt[0])) > 0.1
    torch.testing.assert_close(res.normalised()[0, 0, 3], torch.tensor(1.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(res.normalised()[0, 0, 0], torch.tensor(0.0), atol=1e-4, rtol=0)
    # positions before the corruption cannot see it at any layer: every stream there is the same in both runs
    torch.testing.assert_close(res.values[0, :, :3], res.corrupt[0].expand(llama.num_layers, 3), atol=1e-5, rtol=0)


def test_public_api_shapes_and_several_pairs(llama):
    clean, corrupt, a, b = pair(llama.vocab_size, pairs=3, seed=4)
    grid = patching.patch_residual(llama, clean, corrupt, a, b)
    assert grid.shape == (llama.num_layers, clean.shape[1])
    per_pair = [patching.patch_residual(llama, clean[i], corrupt[i], int(a[i]), int(b[i])) for i in range(3)]
    torch.testing.assert_close(grid, torch.stack(per_pair).mean(0), atol=1e-5, rtol=1e-5)  # the mean over pairs
    assert patching.patch_heads(llama, clean, corrupt, a, b).shape == (llama.num_layers, llama.num_heads)
    assert patching.patch_heads(llama, clean, corrupt, a, b, "v").shape == (llama.num_layers, llama.num_kv_heads)


def test_confidence_interval_by_hand():
    v = torch.tensor([[1.0], [2.0], [4.0]])  # 3 pairs of one cell: mean 7/3, s = 1.5275
    half = patching.ci_halfwidth(v)
    assert abs(float(half[0]) - 4.303 * 1.5275252 / 3**0.5) < 1e-3
    assert torch.isnan(patching.ci_halfwidth(v[:1])).all()
    clean, corrupt = torch.tensor([2.0, 5.0]), torch.tensor([-1.0, 5.0])
    n = normalise(torch.tensor([[0.5], [5.0]]), clean, corrupt)
    assert abs(float(n[0, 0]) - 0.5) < 1e-6 and torch.isnan(n[1, 0])  # equal baselines: undefined, not 0 or inf


@pytest.mark.parametrize("site", ["resid_pre", "z", "mlp_out"])
def test_attribution_is_the_gradient(llama, site):
    """The estimate minus the corrupted metric is (a_clean − a_corrupt)·∂m/∂a: equal to a finite difference of
    the metric along that direction (central, ε = 1e-3, float32)."""
    pairs = _pairs(llama)
    est = attribution_patching.attribution_sweep(llama, pairs, site)
    src, _, mx = patching._sources(llama, pairs, site)
    spec = patching.SITES[site]
    for layer, idx in ((0, 3), (llama.num_layers - 1, 1 if site == "z" else 5)):
        with xviz.record(llama, names=[spec.hook.format(l=layer)]) as rec:
            llama(input_ids=pairs.corrupt)
        a0 = rec[spec.hook.format(l=layer)][0]
        target = src[layer][0]  # mlp_out: corrupt resid_mid + clean MLP output, the patched resid_post
        eps, name = 1e-3, spec.hook.format(l=layer)

        def metric(step, a0=a0, target=target, idx=idx, hook=name):
            def nudge(x):
                x = x.clone()
                x[0, idx] = a0[idx] + step * (target[idx] - a0[idx])
                return x

            logits, _ = patching.last_logits(llama, pairs.corrupt, {hook: nudge})
            return float(logits[0, pairs.answer[0]] - logits[0, pairs.wrong[0]])

        fd = (metric(eps) - metric(-eps)) / (2 * eps)  # central difference
        got = float(est.values[0, layer, idx] - mx[0])
        assert abs(fd - got) < 0.02 * max(1.0, abs(got)), (site, layer, idx, fd, got)


def test_faithfulness_curve_ends(llama):
    pairs = _pairs(llama)
    real = patching.sweep(llama, pairs, "z")
    ks, rec = attribution_patching.faithfulness(llama, pairs, real.mean - real.corrupt.mean(), 3)
    assert ks == [0, 1, 2, 3] and rec.shape == (4, 1)
    assert abs(float(rec[0, 0])) < 1e-5  # nothing patched: the corrupted run
    best = attribution_patching.top_heads(real.mean, 1)[0]
    torch.testing.assert_close(rec[1, 0], real.normalised()[0, best[0], best[1]], atol=1e-4, rtol=0)


@pytest.mark.parametrize("which", ["llama", "gpt2"])
def test_dla_parts_close(which, request):
    model = request.getfixturevalue(which)
    clean, _, a, b = pair(model.vocab_size, seed=7)
    res = attribution.logit_attribution(model, clean[0], int(a[0]), int(b[0]))
    torch.testing.assert_close(res.parts.sum() + res.remainder, torch.tensor(res.logit_diff), atol=1e-4, rtol=0)
    attn = res.parts[1::2]  # (L,) every layer's attention part
    torch.testing.assert_close(res.heads.sum(1) + res.head_bias, attn, atol=1e-4, rtol=1e-4)
    if which == "llama":  # RMSNorm, no biases: the parts are the whole logit difference
        assert abs(res.remainder) < 1e-4 and res.head_bias.abs().max() < 1e-4
    else:  # LayerNorm: the remainder is exactly b_ln_f · (W_U[a] − W_U[b])
        W_U, bias = model.unembedding_weights(), model.final_norm_weights().bias
        assert abs(res.remainder - float(bias @ (W_U[:, a[0]] - W_U[:, b[0]]))) < 1e-4
    assert torch.equal(attribution.direct_logit_attribution(model, clean[0], int(a[0]), int(b[0])), res.heads)
    hv = attribution.head_view(model, clean[0], 1, 2, int(a[0]), int(b[0]))
    assert abs(hv.dla - float(res.heads[1, 2])) < 1e-4  # the logit view of one head agrees with its DLA bar
    torch.testing.assert_close(hv.pattern.sum(-1), torch.ones(clean.shape[1]), atol=1e-5, rtol=0)


# ---- bad inputs -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tok_lm(tiny_lm):
    return xviz.load_model(tiny_lm)  # helpers.save_tiny_llama: a Llama with a byte-level BPE tokenizer


def test_prompts_of_different_lengths(tok_lm):
    with pytest.raises(InputError, match=r"clean prompt is \d+ tokens and the corrupted one \d+") as e:
        patching.patch_residual(tok_lm, "The cat sat on the mat", "The dog sat on the", " mat", " sat")
    assert "'" in str(e.value) and "equal" in str(e.value)  # the tokens are listed


def test_answer_of_several_tokens(tok_lm):
    with pytest.raises(InputError, match=r"' tired' is 3 tokens for this model \(' t', 'ir', 'ed'\)"):
        patching.patch_heads(tok_lm, "The cat sat on the", "The dog sat on the", " tired", " mat")
    with pytest.raises(InputError, match="wrong answer"):
        attribution.direct_logit_attribution(tok_lm, "The cat sat on the", " mat", "")


def test_identical_prompts_and_answers(tok_lm):
    with pytest.raises(InputError, match="identical"):
        patching.patch_residual(tok_lm, "The cat sat on the", "The cat sat on the", " mat", " sat")
    with pytest.raises(InputError, match="same token"):
        patching.patch_heads(tok_lm, "The cat sat on the", "The dog sat on the", " mat", " mat")
    with pytest.raises(InputError, match="empty"):
        patching.patch_heads(tok_lm, "  ", "The dog sat on the", " mat", " sat")


def test_model_without_unembedding(minilm):
    for call in (
        lambda: patching.patch_residual(minilm, "a b", "a c", 5, 6),
        lambda: attribution.direct_logit_attribution(minilm, "a b", 5, 6),
    ):
        with pytest.raises(InputError, match="no unembedding"):
            call()


def test_unknown_site(llama):
    clean, corrupt, a, b = pair(llama.vocab_size)
    with pytest.raises(InputError, match="patch_heads patches"):
        patching.patch_heads(llama, clean, corrupt, a, b, "resid_pre")
