"""Masks on the real MiniLM: full (B, N, N) masks through the TextEncoder against HF BertModel (eager, the same
mask as a 4-D additive float mask), masked entries exactly 0, rows summing to 1; packing, LM/MLM labels."""

import pytest
import torch

from xviz.analysis import masking as A
from xviz.layers import masks as M

SENTS = ["The cat sat on the mat.", "Dogs bark loudly at night.", "Hi"]


@pytest.fixture(scope="module")
def hf_bert(minilm_dir):
    from transformers import BertModel

    return BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def packed(minilm):
    return A.pack(minilm, SENTS)


def test_pack_concatenates_sentences(packed):
    assert packed.tokens[:3] == ["[CLS]", "the", "cat"] and packed.tokens[-3:] == ["[CLS]", "hi", "[SEP]"]
    assert packed.doc_ids.tolist() == [0] * 9 + [1] * 8 + [2] * 3
    assert packed.input_ids.shape == (1, 20) and not packed.truncated


@pytest.mark.parametrize("kind", ["causal", "prefix-LM", "document", "document + causal"])
def test_full_mask_matches_hf_and_masked_probs_are_exactly_zero(minilm, hf_bert, packed, kind):
    n = len(packed.tokens)
    mask = A.build_mask(kind, n, packed.doc_ids, prefix=5)
    res = A.attention_under_mask(minilm, packed.input_ids, mask)
    additive = torch.zeros(1, 1, n, n).masked_fill(~mask, torch.finfo(torch.float32).min)
    with torch.no_grad():
        ref = hf_bert(input_ids=packed.input_ids, attention_mask=additive, output_attentions=True)
    ref_probs = torch.stack(ref.attentions)[:, 0]  # (L, H, N, N)
    assert (ref_probs - res.probs).abs().max() < 1e-5
    assert res.max_masked == 0.0 and (res.probs[:, :, ~mask] == 0).all()
    assert res.max_row_error < 1e-5
    ours = minilm(input_ids=packed.input_ids, attention_mask=mask[None]).last_hidden_state
    assert (ours - ref.last_hidden_state).abs().max() < 1e-4


def test_3d_padding_mask_equals_the_key_mask(minilm):
    batch = minilm.prepare(SENTS)
    two = minilm(**batch)
    full = M.padding(batch["attention_mask"])  # (B, N, N)
    three = minilm(input_ids=batch["input_ids"], attention_mask=full, token_type_ids=batch["token_type_ids"])
    assert torch.allclose(two.last_hidden_state, three.last_hidden_state, atol=1e-6)
    assert torch.allclose(two.pooled, three.pooled, atol=1e-6)


def test_padded_batch_attention(minilm):
    batch, res = A.padded_batch_attention(minilm, SENTS)
    assert res.probs.shape[:2] == (6, 3) and res.max_masked == 0.0 and res.max_row_error < 1e-5
    pads = ~batch["attention_mask"].bool()
    assert (res.probs[:, 2][..., pads[2]] == 0).all()  # "Hi": 3 real tokens, the rest 0
    table = A.batch_table(batch.tokens, batch["attention_mask"])
    assert table[2]["0"] == "[CLS] (1)" and table[2]["3"] == "[PAD] (0)"


def test_a_row_with_no_allowed_key_is_refused(minilm, packed):
    from xviz.errors import InputError

    mask = M.causal(20)
    mask[3] = False
    with pytest.raises(InputError):
        A.attention_under_mask(minilm, packed.input_ids, mask)


def test_lm_labels():
    ids = torch.tensor([10, 11, 12, 13, 14, 15])
    assert A.lm_labels(ids, "causal").tolist() == [11, 12, 13, 14, 15, -100]
    assert A.lm_labels(ids, "prefix-LM", prefix=3).tolist() == [-100, -100, 13, 14, 15, -100]
    docs = torch.tensor([0, 0, 0, 1, 1, 1])
    assert A.lm_labels(ids, "document + causal", doc_ids=docs).tolist() == [11, 12, -100, 14, 15, -100]


def test_mlm_example_rows(minilm):
    rows, out = A.mlm_example(minilm, "The quick brown fox jumps over the lazy dog " * 3, seed=4)
    assert rows[0]["token"] == "[CLS]" and rows[0]["selected"].startswith("special")
    for r, sel, rep in zip(rows, out.selected.tolist(), out.replaced.tolist()):
        assert (r["label"] == r["token"]) == sel
        assert (r["model input"] == "[MASK]") == rep
    assert out.selected.sum() > 0


@pytest.mark.parametrize("kind", A.mask_kinds())
def test_build_mask_kinds(kind):
    m = A.build_mask(kind, 12, torch.tensor([0] * 5 + [1] * 7), real=torch.arange(12) < 9, prefix=3)
    assert m.shape == (12, 12) and m.dtype == torch.bool and m.any(-1).all()
    if kind == "padding":
        assert not m[:, 9:].any() and m[:, :9].all()


def test_mae_patch_mask_counts():
    is_masked, kept = A.mae_patch_mask(224, 16, 0.75, seed=0)
    assert is_masked.shape == (14, 14) and kept == 49 and int(is_masked.sum()) == 147
    again, _ = A.mae_patch_mask(224, 16, 0.75, seed=0)
    assert torch.equal(is_masked, again)
