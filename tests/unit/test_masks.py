"""Masks against their definitions (True = may attend) and BERT's MLM proportions over many seeds."""

import pytest
import torch

from xviz.layers import masks


def test_causal_and_prefix_lm_definitions():
    n = 7
    c = masks.causal(n)
    assert all(c[i, j] == (j <= i) for i in range(n) for j in range(n))
    for prefix in (0, 1, 3, 7):
        m = masks.prefix_lm(n, prefix)
        assert all(m[i, j] == (j <= i or j < prefix) for i in range(n) for j in range(n))
    assert torch.equal(masks.prefix_lm(n, 0), c) and masks.prefix_lm(n, n).all()
    with pytest.raises(ValueError):
        masks.prefix_lm(4, 5)


def test_padding_from_lengths_and_from_attention_mask():
    m = masks.padding([3, 5, 1])
    assert m.shape == (3, 5, 5)
    for b, L in enumerate([3, 5, 1]):
        for i in range(5):
            assert m[b, i].tolist() == [j < L for j in range(5)]  # every query row: the real keys
    am = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.equal(masks.padding(am), masks.padding([2, 4]))
    assert masks.padding([2], n=6).shape == (1, 6, 6)


def test_document_mask_blocks():
    ids = masks.doc_ids_from_lengths([3, 2, 4])
    assert ids.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    m = masks.document(ids)
    expected = torch.block_diag(torch.ones(3, 3), torch.ones(2, 2), torch.ones(4, 4)).bool()
    assert torch.equal(m, expected)
    mc = masks.document(ids, is_causal=True)
    assert torch.equal(mc, expected & masks.causal(9))
    assert masks.document(torch.stack([ids, ids.flip(0)])).shape == (2, 9, 9)
    # non-contiguous documents: still "same id"
    assert masks.document([0, 1, 0]).tolist() == [[True, False, True], [False, True, False], [True, False, True]]


def test_mlm_definitions_on_one_draw():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1000, 2000, (4, 64), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    out = masks.mlm_mask(ids, special, torch.Generator().manual_seed(0), mask_token_id=103)
    assert not (out.selected & special).any()
    parts = [out.replaced, out.random, out.kept]
    assert torch.equal(parts[0] | parts[1] | parts[2], out.selected)
    assert int(sum(p.long() for p in parts).max()) <= 1  # disjoint
    assert torch.equal(out.inputs[out.replaced], torch.full_like(out.inputs[out.replaced], 103))
    assert torch.equal(out.inputs[out.kept], ids[out.kept])
    assert torch.equal(out.inputs[~out.selected], ids[~out.selected])
    assert torch.equal(out.labels[out.selected], ids[out.selected]) and (out.labels[~out.selected] == -100).all()
    inputs, labels, *_ = masks.mlm_mask(ids, special, torch.Generator().manual_seed(0))
    assert torch.equal(inputs, out.inputs) and torch.equal(labels, out.labels)  # seeded: reproducible


def test_mlm_proportions_over_many_seeds():
    ids = torch.arange(1000, 1000 + 512).repeat(8, 1)  # 4096 tokens, none special
    special = torch.zeros_like(ids, dtype=torch.bool)
    sel = rep = rnd = kept = 0
    for seed in range(50):
        out = masks.mlm_mask(ids, special, torch.Generator().manual_seed(seed), vocab_size=30522)
        sel += int(out.selected.sum())
        rep += int(out.replaced.sum())  # noqa: E702
        rnd += int(out.random.sum())
        kept += int(out.kept.sum())  # noqa: E702
    total = 50 * ids.numel()
    assert sel / total == pytest.approx(0.15, abs=0.003)
    assert rep / sel == pytest.approx(0.80, abs=0.01)
    assert rnd / sel == pytest.approx(0.10, abs=0.008)
    assert kept / sel == pytest.approx(0.10, abs=0.008)


def test_causal_with_a_kv_cache_is_the_last_rows_of_the_full_triangle():
    """The one causal mask: n queries at the end of n_keys positions see the keys up to their own position."""
    full = masks.causal(7)
    assert torch.equal(masks.causal(3, 7), full[4:]) and torch.equal(masks.causal(1, 7), full[6:])
    assert masks.causal(3).sum() == 6 and masks.causal(2, 2, device="cpu").dtype == torch.bool
