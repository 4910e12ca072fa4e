"""xviz's encoder–decoder on a small random-init model: attention maths against an independent computation,
masks (causal decoder, cross-attention ignores source padding), decoding invariants, NAT in one pass, tasks."""

import math

import pytest
import torch

import xviz
from xviz.data import seq2seq_tasks as T
from xviz.errors import InputError
from xviz.models import seq2seq_decode as D
from xviz.models.seq2seq import Seq2Seq, Seq2SeqConfig

torch.set_num_threads(1)
CFG = Seq2SeqConfig(hidden_size=32, num_heads=4, num_layers=2, decoder_layers=2, mlp_hidden=64)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)  # initial weights only, in the test process
    m = Seq2Seq(CFG).eval()
    with torch.no_grad():  # sharper attention than the default init, so the checks are not trivially uniform
        for p in m.parameters():
            if p.ndim == 2:
                p.mul_(3.0)
    return m


def _padded_batch(m):
    exs = [T.reverse_example("abcdefgh"), T.date_example(2021, 3, 3, 1)]
    src, src_mask = D.batch_sources(m, exs)
    tgt = torch.tensor([[T.BOS] + T.encode_chars("hgfe"), [T.BOS] + T.encode_chars("2021")])
    return src, src_mask, tgt


def _manual_attention(attn, x_q, x_kv, mask):
    """Independent: per head, softmax(q kᵀ / √d) with -inf where masked, then · v, concatenated, out_proj."""
    B, Nq, C = x_q.shape
    H, D_ = attn.num_heads, attn.head_dim
    outs, probs = [], []
    for h in range(H):
        sl = slice(h * D_, (h + 1) * D_)
        q = x_q @ attn.q_proj.weight[sl].T + attn.q_proj.bias[sl]  # (B, Nq, D)
        k = x_kv @ attn.k_proj.weight[sl].T + attn.k_proj.bias[sl]  # (B, Nk, D)
        v = x_kv @ attn.v_proj.weight[sl].T + attn.v_proj.bias[sl]
        s = torch.einsum("bqd,bkd->bqk", q, k) / math.sqrt(D_)
        s = s.masked_fill(~mask, float("-inf"))
        p = torch.softmax(s, -1)
        probs.append(p)
        outs.append(torch.einsum("bqk,bkd->bqd", p, v))
    return attn.out_proj(torch.cat(outs, -1)), torch.stack(probs, 1)  # (B, Nq, C), (B, H, Nq, Nk)


def test_cross_attention_matches_explicit_computation(tiny):
    src, src_mask, tgt = _padded_batch(tiny)
    names = [
        "decoder.blocks.1.norm_cross.hook_out",
        "encoder.hook_out",
        "decoder.blocks.1.cross_attn.hook_probs",
        "decoder.blocks.1.hook_resid_mid",
        "decoder.blocks.1.hook_resid_cross",
    ]
    with xviz.record(tiny, names=names) as rec, torch.no_grad():
        tiny(src, src_mask, tgt_ids=tgt)
    blk = tiny.decoder.blocks[1]
    mask = src_mask.bool()[:, None, :].expand(-1, tgt.shape[1], -1)  # (B, Nq, Nk)
    out, probs = _manual_attention(blk.cross_attn, rec[names[0]], rec[names[1]], mask)
    torch.testing.assert_close(rec[names[2]], probs, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(rec[names[3]] + out, rec[names[4]], atol=1e-5, rtol=1e-5)  # pre-LN residual


def test_encoder_and_decoder_self_attention_match_explicit(tiny):
    src, src_mask, tgt = _padded_batch(tiny)
    names = [
        "encoder.blocks.0.norm1.hook_out",
        "encoder.blocks.0.attn.hook_probs",
        "decoder.blocks.0.norm1.hook_out",
        "decoder.blocks.0.attn.hook_probs",
    ]
    with xviz.record(tiny, names=names) as rec, torch.no_grad():
        tiny(src, src_mask, tgt_ids=tgt)
    x = rec[names[0]]
    emask = src_mask.bool()[:, None, :].expand(-1, src.shape[1], -1)
    _, p_enc = _manual_attention(tiny.encoder.blocks[0].attn, x, x, emask)
    torch.testing.assert_close(rec[names[1]], p_enc, atol=1e-6, rtol=1e-5)
    y = rec[names[2]]
    causal = torch.ones(tgt.shape[1], tgt.shape[1], dtype=torch.bool).tril().expand(2, -1, -1)
    _, p_dec = _manual_attention(tiny.decoder.blocks[0].attn, y, y, causal)
    torch.testing.assert_close(rec[names[3]], p_dec, atol=1e-6, rtol=1e-5)


def test_masks_causal_decoder_and_cross_attention_over_source_only(tiny):
    src, src_mask, tgt = _padded_batch(tiny)
    assert (src_mask == 0).any()  # the second source is padded
    with xviz.record(tiny, names="*attn.hook_probs") as rec, torch.no_grad():
        tiny(src, src_mask, tgt_ids=tgt)
    for i in range(CFG.decoder_layers):
        p = rec[f"decoder.blocks.{i}.attn.hook_probs"]  # (B, H, Nt, Nt)
        assert torch.triu(p, 1).abs().max() == 0  # nothing above the diagonal
        c = rec[f"decoder.blocks.{i}.cross_attn.hook_probs"]  # (B, H, Nt, Ns)
        torch.testing.assert_close(c.sum(-1), torch.ones_like(c.sum(-1)))
        assert c.masked_select(~src_mask.bool()[:, None, None, :].expand_as(c)).abs().max() == 0
        assert (c[..., 1:] > 0).any()  # no causal mask on cross-attention


def test_fused_and_explicit_paths_agree(tiny):
    src, src_mask, tgt = _padded_batch(tiny)
    with torch.no_grad():
        fused = tiny(src, src_mask, tgt_ids=tgt).logits
        with xviz.record(tiny, names="*hook_probs"):
            explicit = tiny(src, src_mask, tgt_ids=tgt).logits
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_the_output(tiny):
    src, src_mask, tgt = _padded_batch(tiny)
    with torch.no_grad():
        batched = tiny(src, src_mask, tgt_ids=tgt).logits[1]
        n = int(src_mask[1].sum())
        alone = tiny(src[1:, :n], src_mask[1:, :n], tgt_ids=tgt[1:]).logits[0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


def test_beam_width_one_is_greedy_and_sampling_is_seeded(tiny):
    for src in ["abcdef", "transformers"]:
        greedy = D.step_decode(tiny, src, "reverse")
        beam = D.beam_search(tiny, src, "reverse", num_beams=1)
        assert beam.ids == greedy.ids and beam.score == pytest.approx(greedy.score, abs=1e-5)
    state = torch.random.get_rng_state()
    a = tiny.generate_text("abcdef", "reverse", strategy="sample", temperature=1.5, seed=7)
    b = tiny.generate_text("abcdef", "reverse", strategy="sample", temperature=1.5, seed=7)
    outs = {tiny.generate_text("abcdef", "reverse", strategy="sample", temperature=1.5, seed=s) for s in range(6)}
    assert a == b and len(outs) > 1
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG was not used


def test_beam_search_never_worse_than_greedy(tiny):
    for src in ["abc", "hello", "March 3, 2021"]:
        task = "date" if "," in src else "reverse"
        g = D.step_decode(tiny, src, task)
        b = D.beam_search(tiny, src, task, num_beams=4)
        if g.ids and g.ids[-1] == T.EOS:
            assert b.score >= g.score - 1e-5
        assert b.tree[0].status == "root" and all(n.parent is not None for n in b.tree[1:])


def test_nat_decodes_in_one_pass(tiny):
    calls = []
    hook = tiny.nat_decoder.blocks[0].register_forward_hook(lambda *a: calls.append(1))  # test-local model
    try:
        ids, len_probs = D.nat_decode(tiny, "abcdef", "reverse")
        ids6, _ = D.nat_decode(tiny, "abcdef", "reverse", length=6)
    finally:
        hook.remove()
    assert len(calls) == 2 and len(ids6) == 6
    assert len(ids) == max(1, int(len_probs.argmax()))
    batch = tiny.prepare("abcdef", "reverse", target="fedcba", nat=True)
    with xviz.record(tiny, names="nat_decoder.blocks.*.attn.hook_probs") as rec, torch.no_grad():
        tiny(**batch)
    p = rec["nat_decoder.blocks.0.attn.hook_probs"]  # (1, H, 6, 6)
    assert p.shape[-2:] == (6, 6) and torch.triu(p, 1).sum() > 0  # no causal mask


def test_step_trace_cross_rows_equal_incremental(tiny):
    tr = D.trace(tiny, "abcd", "reverse", "greedy")
    src = torch.tensor([tiny.source_ids("abcd", "reverse")])
    for t, st in enumerate(tr.steps):
        prefix = torch.tensor([[T.BOS] + tr.ids[:t]])
        with xviz.record(tiny, names="decoder.blocks.*.cross_attn.hook_probs") as rec, torch.no_grad():
            tiny(src, torch.ones_like(src), tgt_ids=prefix)
        row = torch.stack([rec[f"decoder.blocks.{i}.cross_attn.hook_probs"][0, :, -1] for i in range(2)])
        torch.testing.assert_close(st.cross, row, atol=1e-6, rtol=1e-5)
        assert st.token == st.topk_ids[0]


def test_contract_and_hook_names(tiny):
    from xviz.models.contract import XvizModel

    assert isinstance(tiny, XvizModel) and tiny.kind == "seq2seq" and tiny.num_layers == 2
    names = set(tiny.hook_names())
    for i in range(2):
        for h in ("q", "k", "v", "scores", "probs", "z"):
            assert f"encoder.blocks.{i}.attn.hook_{h}" in names
            assert f"decoder.blocks.{i}.attn.hook_{h}" in names
            assert f"decoder.blocks.{i}.cross_attn.hook_{h}" in names
        assert f"decoder.blocks.{i}.norm1.hook_in" in names and f"encoder.blocks.{i}.hook_resid_post" in names


def test_tasks_alignment_and_split():
    ex = T.date_example(2021, 3, 3, 0)
    assert ex.source == "3rd of March 2021" and ex.target == "2021-03-03"
    assert [ex.source[i] for i in ex.align[0]] == ["2"] and "".join(ex.source[i] for i in ex.align[5]) == "March"
    assert T.date_example(1999, 12, 25, 1).source == "December 25, 1999"
    assert T.ordinal(11) == "11th" and T.ordinal(22) == "22nd"
    g = torch.Generator().manual_seed(0)
    for task in T.TASKS:
        for _ in range(50):
            ex = T.sample(task, g, "test")
            assert T.held_out(T.split_key(ex))
            for t, chars in enumerate(ex.align):
                if task != "date" or ex.target[t] not in "-":
                    assert chars and all(0 <= c < len(ex.source) for c in chars)
    assert T.reference("date", "31st of February 2021")[0] is None
    assert T.reference("copy", "My name is Bo.")[0].target == "Bo"


def test_bad_input(tiny):
    from xviz.analysis.encdec import validate_source

    for bad in ["", "   "]:
        with pytest.raises(InputError, match="empty"):
            validate_source(bad, "reverse")
    with pytest.raises(InputError, match="outside the model's vocabulary"):
        validate_source("héllo 😀", "reverse")
    src, notes = validate_source("a" * 60, "reverse")
    assert src == "a" * 24 and "truncated" in notes[0]
    with pytest.raises(InputError, match="Unknown task"):
        tiny.prepare("abc", "translate")
    with pytest.raises(InputError, match="at most"):
        tiny.prepare("a" * 80, "copy")
    with pytest.raises(InputError):
        tiny.generate_text("abc", strategy="nucleus")
