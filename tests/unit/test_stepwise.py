"""Self-attention step by step: every intermediate computed from the weights equals the recorded hooks, the
block output equals HF BertModel (eager) on the same folder; why √d: Var(q·k) = d·Var(q)·Var(k)."""

import math

import pytest
import torch

from xviz.analysis import sqrt_d
from xviz.analysis.stepwise import run_steps
from xviz.errors import InputError

torch.set_num_threads(1)
KEYS = [
    "tok",
    "pos",
    "seg",
    "sum",
    "emb_ln",
    "x",
    "q",
    "k",
    "v",
    "split",
    "qk",
    "scale",
    "mask",
    "softmax",
    "av",
    "concat",
    "wo",
    "res1",
    "ln1",
    "ffn1",
    "ffn2",
    "res2",
    "out",
]


@pytest.fixture(scope="module")
def hf_minilm(minilm_dir):
    from transformers import BertModel

    return BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()


@pytest.mark.parametrize("layer,head,pad", [(0, 0, 0), (3, 7, 2), (5, 11, 1)])
def test_every_step_equals_recorded_hook(minilm, layer, head, pad):
    run = run_steps(minilm, "The cat sat on the mat because it was tired.", layer, head, pad)
    assert [s.key for s in run.steps] == KEYS
    checked = {s.key: s for s in run.steps if s.hook}
    assert set(checked) == set(KEYS) - {"tok", "pos", "seg", "sum", "qk", "scale"}
    rec = run.recording
    for s in checked.values():
        assert s.diff < 5e-5, (s.key, s.hook, s.diff)
    # the same comparisons spelled out for the attention core
    p = f"blocks.{layer}.attn"
    by = {s.key: s.value for s in run.steps}
    torch.testing.assert_close(by["softmax"], rec[f"{p}.hook_probs"][0, head], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(by["av"], rec[f"{p}.hook_z"][0, head], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(by["scale"], by["qk"] / math.sqrt(run.head_dim))
    torch.testing.assert_close(by["out"], rec[f"blocks.{layer}.hook_resid_post"][0], atol=5e-5, rtol=1e-5)


def test_unchecked_steps_are_what_they_say(minilm):
    run = run_steps(minilm, ("Where is the cat?", "On the mat."), 1, 2)
    by = {s.key: s.value for s in run.steps}
    torch.testing.assert_close(by["sum"], by["tok"] + by["pos"] + by["seg"])
    sep = run.tokens.index("[SEP]")
    types = torch.tensor([0] * (sep + 1) + [1] * (len(run.tokens) - sep - 1))
    torch.testing.assert_close(by["seg"], minilm.embed.token_type.weight[types])
    q = by["q"].view(len(run.tokens), 12, 32)[:, 2]  # (N, C) -> (N, H, D), head 2
    torch.testing.assert_close(by["split"], q)
    torch.testing.assert_close(by["qk"], by["split"] @ by["k"].view(len(run.tokens), 12, 32)[:, 2].T)


@pytest.mark.parametrize("layer,pad", [(0, 0), (4, 3)])
def test_block_output_equals_hf_eager(minilm, hf_minilm, layer, pad):
    run = run_steps(minilm, "Transformers attend to every token at once.", layer, 5, pad)
    from xviz.analysis.stepwise import prepare_input

    batch = prepare_input(minilm, "Transformers attend to every token at once.", pad)
    with torch.no_grad():
        ref = hf_minilm(**batch, output_attentions=True, output_hidden_states=True)
    real = batch["attention_mask"][0].bool()
    torch.testing.assert_close(run.block_out[real], ref.hidden_states[layer + 1][0][real], atol=5e-5, rtol=1e-5)
    probs = {s.key: s.value for s in run.steps}["softmax"]
    torch.testing.assert_close(probs, ref.attentions[layer][0, 5], atol=1e-6, rtol=1e-5)
    if pad:
        assert (probs[:, ~real] == 0).all()


@pytest.mark.parametrize("bad", ["", "   \n", "\x00"])
def test_empty_sentence_is_refused(minilm, bad):
    with pytest.raises(InputError, match="empty"):
        run_steps(minilm, bad)


def test_bad_layer_head_pad_are_refused(minilm):
    with pytest.raises(InputError):
        run_steps(minilm, "hi", layer=6)
    with pytest.raises(InputError):
        run_steps(minilm, "hi", head=12)
    with pytest.raises(InputError):
        run_steps(minilm, "hi", pad=100)


def test_long_text_is_truncated_with_flag(minilm):
    run = run_steps(minilm, "word " * 400, 0, 0)  # 402 tokens: within MiniLM's 512 positions, all shown
    assert not run.truncated and len(run.tokens) == 402
    run = run_steps(minilm, "word " * 600, 0, 0)  # cut to the model's 512 positions (the page's memory cap is higher)
    assert run.truncated and len(run.tokens) == 512 and max(s.diff for s in run.steps if s.hook) < 1e-4


@pytest.mark.parametrize("std_q,std_k", [(1.0, 1.0), (2.0, 0.5), (0.3, 1.5)])
def test_dot_product_variance_is_d_var_q_var_k(std_q, std_k):
    st = sqrt_d.dot_variance(dims=(4, 64, 512), samples=8000, std_q=std_q, std_k=std_k, seed=3)
    for m, p in zip(st.var_measured, st.var_predicted):
        # relative standard error of a variance estimate from 8000 samples is ≲ 3 % here (kurtosis ≤ 9)
        assert abs(m / p - 1) < 0.12, (m, p)


def test_softmax_saturates_without_scaling():
    st = sqrt_d.softmax_saturation(dims=(4, 64, 1024), n_keys=16, rows=256)
    un, sc = st.entropy["unscaled"], st.entropy["÷√d"]
    assert un[0] > un[1] > un[2] and un[2] < 0.3  # → one-hot
    assert max(sc) - min(sc) < 0.15 and min(sc) > 2.0  # flat, near log 16 = 2.77
    assert st.max_weight["unscaled"][-1] > 0.9 and st.max_weight["÷√d"][-1] < 0.4
    assert st.grad_norm["unscaled"][-1] < 0.3 * st.grad_norm["÷√d"][-1]


def test_softmax_jacobian_norm_matches_autograd():
    s = torch.randn(7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: t.softmax(-1), s)
    torch.testing.assert_close(sqrt_d.softmax_jacobian_norm(s.softmax(-1)), jac.norm())


def test_real_head_stats(minilm):
    run = run_steps(minilm, "The cat sat on the mat because it was tired.", 2, 0)
    rec = run.recording
    r = sqrt_d.real_head_stats(rec["blocks.2.attn.hook_q"][0, 0], rec["blocks.2.attn.hook_k"][0, 0])
    assert r.d == 32 and r.var_qk > 0 and r.var_pred > 0
    assert r.unscaled[0] < r.scaled[0] <= r.uniform_entropy + 1e-6  # without ÷√D the rows are peakier
