"""Language-model analysis against transformers (generate, logits warpers) on a random-init tiny Llama, hand-computed
head scores, and (slow) facts on SmolLM2-135M."""

import pytest
import torch

import xviz
from xviz.analysis import lm_beam, lm_decode, lm_heads, lm_next
from xviz.analysis.lm_decode import Decoding

T = pytest.importorskip("transformers")
torch.set_num_threads(1)
PROMPT = torch.tensor([1, 17, 42, 5, 88, 23, 61, 9])


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    from xviz.adapters.hf import load_hf_model

    return load_hf_model(tiny_llama_dir)


def _hf_generate(model, ids, **kw):
    cfg = T.GenerationConfig(eos_token_id=2, pad_token_id=0, bos_token_id=1, **kw)
    with torch.no_grad():
        return model.hf_model.generate(
            input_ids=ids[None], attention_mask=torch.ones(1, ids.numel(), dtype=torch.long), generation_config=cfg
        )


def _trim(seq):
    return seq[: seq.index(2) + 1] if 2 in seq else seq


def test_next_token_and_lens_last_layer_equals_logits(tiny):
    nt = lm_next.next_token(tiny, PROMPT, k=5)
    with torch.no_grad():
        ref = tiny.hf_model(input_ids=PROMPT[None]).logits[0, -1]
    assert nt.ids == ref.topk(5).indices.tolist()
    assert abs(sum(nt.probs) - float(ref.softmax(-1).topk(5).values.sum())) < 1e-5
    lens = lm_next.logit_lens(tiny, PROMPT)
    assert lens.top_ids.shape == (tiny.num_layers + 1, PROMPT.numel())
    with xviz.record(tiny, names="blocks.2.hook_resid_post") as rec:
        out = tiny(input_ids=PROMPT[None])
    torch.testing.assert_close(tiny.lens(rec["blocks.2.hook_resid_post"]), out.logits, atol=1e-5, rtol=1e-5)
    assert lens.answer_id == int(ref.argmax()) and int(lens.answer_rank[-1]) == 0
    assert abs(float(lens.answer_prob[-1]) - float(ref.softmax(-1).max())) < 1e-5


def test_greedy_matches_hf_generate_and_cache_equals_no_cache(tiny):
    d = Decoding("greedy", max_new_tokens=10)
    ours = lm_decode.generate(tiny, PROMPT, d, eos_id=2)
    hf = _hf_generate(tiny, PROMPT, do_sample=False, max_new_tokens=10)[0, PROMPT.numel() :].tolist()
    assert ours.tokens == _trim(hf)
    uncached = lm_decode.generate(tiny, PROMPT, d, rows=False, use_cache=False, eos_id=2)
    assert uncached.tokens == ours.tokens
    step = ours.steps[1]
    assert step.cache_shape == (1, tiny.num_kv_heads, PROMPT.numel() + 1, 8)  # (B, Hkv, t, D)
    assert step.attn.shape == (tiny.num_layers, tiny.num_heads, PROMPT.numel() + 1)  # the new query's row
    torch.testing.assert_close(step.attn.sum(-1), torch.ones(tiny.num_layers, tiny.num_heads))


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 5, 1.0), (1.3, 0, 0.8), (0.9, 10, 0.6)])
def test_seeded_sampling_matches_hf(tiny, temperature, top_k, top_p):
    d = Decoding("sample", temperature, top_k, top_p, seed=123, max_new_tokens=12)
    ours = lm_decode.generate(tiny, PROMPT, d, rows=False, eos_id=2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)  # HF samples from the global RNG; ours from a Generator seeded the same
        hf = _hf_generate(
            tiny, PROMPT, do_sample=True, max_new_tokens=12, temperature=temperature, top_k=top_k, top_p=top_p
        )[0, PROMPT.numel() :].tolist()
    assert ours.tokens == _trim(hf)


def test_filters_match_hf_warpers():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 300, generator=g) * 3
    for k in (1, 7, 50):
        ref = T.TopKLogitsWarper(top_k=k)(None, logits.clone())
        assert torch.equal(lm_decode.filter_logits(logits, top_k=k).isinf(), ref.isinf())
    for p in (0.1, 0.5, 0.9, 0.99):
        ref = T.TopPLogitsWarper(top_p=p)(None, logits.clone())
        assert torch.equal(lm_decode.filter_logits(logits, top_p=p).isinf(), ref.isinf())
    ref = T.TemperatureLogitsWarper(0.5)(None, logits.clone())
    torch.testing.assert_close(lm_decode.filter_logits(logits, temperature=0.5), ref)


def test_top_p_keeps_smallest_set_reaching_p():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    kept = lm_decode.filter_logits(probs.log(), top_p=0.8).softmax(-1)
    torch.testing.assert_close(kept, torch.tensor([0.625, 0.375, 0.0, 0.0]))  # {0.5, 0.3} renormalised


def test_beam_width_one_is_greedy(tiny):
    greedy = lm_decode.generate(tiny, PROMPT, Decoding("greedy", max_new_tokens=8), rows=False, eos_id=2)
    # width 1 keeps greedy's path; with eos, the finished beam is final only when no longer one can outscore it
    beam = lm_beam.beam_search(
        tiny, PROMPT, num_beams=1, max_new_tokens=8, length_penalty=0.0, early_stopping=True, eos_id=2
    )
    assert beam.beams[0][0] == greedy.tokens
    free = lm_decode.generate(tiny, PROMPT, Decoding("greedy", max_new_tokens=8), rows=False)
    assert lm_beam.beam_search(tiny, PROMPT, num_beams=1, max_new_tokens=8).beams[0][0] == free.tokens


@pytest.mark.parametrize("beams,alpha,early", [(3, 1.0, False), (4, 0.0, True), (2, 2.0, False), (3, -1.0, "never")])
def test_beam_search_matches_hf(tiny, beams, alpha, early):
    # eos = the greedy path's 3rd token, so some beams finish early and the length penalty matters
    eos = lm_decode.generate(tiny, PROMPT, Decoding(max_new_tokens=3), rows=False).tokens[2]
    ours = lm_beam.beam_search(tiny, PROMPT, beams, 9, alpha, early, eos_id=eos)
    cfg = T.GenerationConfig(
        eos_token_id=eos,
        pad_token_id=0,
        num_beams=beams,
        num_return_sequences=beams,
        length_penalty=alpha,
        early_stopping=early,
        do_sample=False,
        max_new_tokens=9,
        return_dict_in_generate=True,
        output_scores=True,
    )
    with torch.no_grad():
        hf = tiny.hf_model.generate(
            input_ids=PROMPT[None], attention_mask=torch.ones(1, 8, dtype=torch.long), generation_config=cfg
        )
    for (toks, score, _), seq, hs in zip(ours.beams, hf.sequences, hf.sequences_scores):
        gen = seq[PROMPT.numel() :].tolist()
        gen = gen[: gen.index(eos) + 1] if eos in gen else gen
        assert toks == gen
        assert abs(score - float(hs)) < 1e-4
    assert sum(n.status == "finished" for n in ours.nodes) >= len(ours.beams)


def test_ablating_nothing_changes_nothing(tiny):
    res = lm_next.ablate(tiny, PROMPT, [])
    assert res.kl == 0.0
    assert torch.equal(lm_next.last_logits(tiny, PROMPT, {}), lm_next.last_logits(tiny, PROMPT))


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_a_head_changes_only_its_z(tiny, mode):
    with xviz.record(tiny, names="blocks.1.attn.hook_z") as clean:
        tiny(input_ids=PROMPT[None])
    edits = lm_next.ablation_edits([(1, 2)], mode)
    with xviz.record(tiny, names="blocks.1.attn.hook_z", edits=edits) as rec:
        tiny(input_ids=PROMPT[None])
    z0, z1 = clean["blocks.1.attn.hook_z"], rec["blocks.1.attn.hook_z"]  # (1, H, N, D)
    others = [0, 1, 3]
    torch.testing.assert_close(z1[:, others], z0[:, others])
    expect = torch.zeros_like(z0[:, 2]) if mode == "zero" else z0[:, 2].mean(1, keepdim=True).expand_as(z0[:, 2])
    torch.testing.assert_close(z1[:, 2], expect)
    res = lm_next.ablate(tiny, PROMPT, [(1, 2)], mode, token_pair=(5, 6))
    assert res.kl > 0 and res.logit_diff_before != res.logit_diff_after


def test_batched_ablation_effects_equal_one_at_a_time(tiny):
    clean, eff = lm_heads.ablation_effects(tiny, PROMPT, 5, 6, "zero")
    one = lm_next.ablate(tiny, PROMPT, [(2, 1)], "zero", token_pair=(5, 6))
    assert abs(clean - one.logit_diff_before) < 1e-4
    assert abs(float(eff[2, 1]) - (one.logit_diff_after - one.logit_diff_before)) < 1e-4


def test_head_scores_on_a_constructed_pattern():
    ids = torch.tensor([7, 3, 9, 7, 3, 9])  # copy_len 3, repeated
    n = ids.numel()
    A = torch.zeros(1, 1, n, n)
    A[0, 0, 0, 0] = 1
    for i in range(1, n):  # 0.5 on the first token, 0.5 on i − 1
        A[0, 0, i, 0] += 0.5
        A[0, 0, i, i - 1] += 0.5
    s = lm_heads.head_scores(A, ids)
    # query 1's previous token is token 0 (mass 1); queries 2..5 put 0.5 on i − 1 and 0.5 on token 0
    assert float(s["previous-token"]) == pytest.approx((1 + 4 * 0.5) / 5)
    assert float(s["first-token sink"]) == pytest.approx((1 + 4 * 0.5) / 5)
    # induction targets: i=3 → j=1, i=4 → j=2, i=5 → j=3 (offset copy_len − 1 = 2); mass 0, 0, 0 (j≠0, j≠i−1)
    assert float(s["induction"]) == pytest.approx(0.0)
    # duplicate targets: i=3 → 0 (0.5), i=4 → 1 (0), i=5 → 2 (0)
    assert float(s["duplicate-token"]) == pytest.approx(0.5 / 3)
    B = torch.zeros(1, 1, n, n)
    for i, j in ((3, 1), (4, 2), (5, 3)):
        B[0, 0, i, j] = 1
    assert float(lm_heads.head_scores(B, ids)["induction"]) == pytest.approx(1.0)


def test_streamed_head_scores_equal_recorded(tiny):
    ids = lm_heads.repeated_random(6, 3, 100, seed=1, prefix=[1])
    ref = lm_heads.head_scores(lm_heads.attention(tiny, ids), ids)
    got = lm_heads.model_head_scores(tiny, ids)
    for name in lm_heads.SCORES:
        torch.testing.assert_close(got[name], ref[name])


def test_cache_timing_runs(tiny):
    t = lm_decode.time_cache(tiny, PROMPT, steps=3)
    assert t.same_tokens and len(t.with_cache_ms) == len(t.without_cache_ms) == 3


# ---- SmolLM2 (real weights; slow) -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smol(smollm2_dir):
    return xviz.load_model("smollm2-135m")


@pytest.mark.slow
def test_smollm2_facts(smol):
    ids = smol.prepare("The capital of France is")["input_ids"][0]
    assert smol.decode([lm_next.next_token(smol, ids, 1).ids[0]]) == [" Paris"]
    ioi = smol.prepare(lm_heads.IOI_PROMPT)["input_ids"][0]
    nt = lm_next.next_token(smol, ioi, 3)
    assert smol.decode([nt.ids[0]]) == [" Mary"] and nt.probs[0] == pytest.approx(0.92, abs=0.03)
    rep = lm_heads.repeated_random(40, 1000, 20000, seed=0, prefix=[1])  # [bos] + r + r, as on the page
    scores = lm_heads.model_head_scores(smol, rep)
    assert float(scores["induction"][18, 6]) == pytest.approx(0.90, abs=0.03)
    lens = lm_next.logit_lens(smol, ids)
    assert int(lens.answer_rank[-1]) == 0


@pytest.mark.slow
def test_smollm2_greedy_and_beams_match_hf_generate(smol):
    ids = smol.prepare("The capital of France is")["input_ids"][0]
    greedy = lm_decode.generate(smol, ids, Decoding(max_new_tokens=6), rows=False, eos_id=2)
    beams = lm_beam.beam_search(smol, ids, 3, 6, 1.0, False, eos_id=2)
    cfg = dict(eos_token_id=2, pad_token_id=2, max_new_tokens=6, do_sample=False)
    with torch.no_grad():
        hf_greedy = smol.hf_model.generate(
            input_ids=ids[None], attention_mask=torch.ones_like(ids)[None], generation_config=T.GenerationConfig(**cfg)
        )
        hf_beam = smol.hf_model.generate(
            input_ids=ids[None],
            attention_mask=torch.ones_like(ids)[None],
            generation_config=T.GenerationConfig(num_beams=3, length_penalty=1.0, **cfg),
        )
    assert greedy.tokens == hf_greedy[0, ids.numel() :].tolist()
    assert beams.beams[0][0] == _trim_eos(hf_beam[0, ids.numel() :].tolist())


def _trim_eos(seq, eos=2):
    return seq[: seq.index(eos) + 1] if eos in seq else seq
