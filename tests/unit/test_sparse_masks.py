"""Every sparse pattern against a slow reference written from its paper's definition (loops), plus densities at
standard settings (closed-form counts)."""

import pytest
import torch

from xviz.layers import sparse_masks as sm


def loop_mask(n, allowed):
    return torch.tensor([[bool(allowed(i, j)) for j in range(n)] for i in range(n)])


N = 37


@pytest.mark.parametrize("w", [1, 2, 5, 8, 80])
@pytest.mark.parametrize("causal", [False, True])
def test_sliding_window(w, causal):
    ref = loop_mask(N, lambda i, j: (0 <= i - j <= w // 2) if causal else abs(i - j) <= w // 2)
    assert torch.equal(sm.sliding_window(N, w, causal=causal), ref)


@pytest.mark.parametrize("w,d", [(4, 1), (4, 2), (6, 3), (2, 5)])
def test_dilated(w, d):
    ref = loop_mask(N, lambda i, j: abs(i - j) <= d * (w // 2) and (i - j) % d == 0)
    assert torch.equal(sm.dilated(N, w, d), ref)
    if d == 1:
        assert torch.equal(sm.dilated(N, w, 1), sm.sliding_window(N, w))


@pytest.mark.parametrize("stride", [1, 3, 7])
@pytest.mark.parametrize("causal", [False, True])
def test_strided(stride, causal):
    ref = loop_mask(N, lambda i, j: (i - j) % stride == 0 and (j <= i or not causal))
    assert torch.equal(sm.strided(N, stride, causal=causal), ref)


def test_global_tokens_and_longformer():
    idx = [0, 5, 36]
    ref = loop_mask(N, lambda i, j: i in idx or j in idx)
    assert torch.equal(sm.global_tokens(N, idx), ref)
    w, d = 6, 2
    ref_lf = loop_mask(N, lambda i, j: i in idx or j in idx or (abs(i - j) <= d * w // 2 and (i - j) % d == 0))
    assert torch.equal(sm.longformer(N, w, idx, dilation=d), ref_lf)
    with pytest.raises(ValueError):
        sm.global_tokens(N, [N])


@pytest.mark.parametrize("stride", [1, 4, 6])
def test_sparse_strided(stride):
    # Child et al. 2019: A1 = {max(0, i − l), …, i}, A2 = {j : (i − j) mod l = 0}, causal
    ref = loop_mask(N, lambda i, j: j <= i and (max(0, i - stride) <= j or (i - j) % stride == 0))
    assert torch.equal(sm.sparse_strided(N, stride), ref)


@pytest.mark.parametrize("block", [1, 3, 4, 32])
def test_block_local(block):
    # Qiu et al. 2019 (BlockBERT): a query attends to the keys of its own block only
    ref = loop_mask(N, lambda i, j: i // block == j // block)
    assert torch.equal(sm.block_local(N, block), ref)


@pytest.mark.parametrize("stride,c", [(4, 1), (6, 2), (5, 5)])
def test_sparse_fixed(stride, c):
    # A1 = {j : ⌊j/l⌋ = ⌊i/l⌋}, A2 = {j : j mod l ∈ {l − c, …, l − 1}}, causal
    ref = loop_mask(N, lambda i, j: j <= i and (j // stride == i // stride or j % stride in range(stride - c, stride)))
    assert torch.equal(sm.sparse_fixed(N, stride, c), ref)
    with pytest.raises(ValueError):
        sm.sparse_fixed(N, 3, 4)


def test_axial():
    h, w = 4, 6
    ref = loop_mask(h * w, lambda i, j: i // w == j // w or i % w == j % w)
    assert torch.equal(sm.axial(h, w), ref)
    gh, gw = sm.axial_grid(N)
    assert gh * gw >= N and gw - gh <= 1


def bigbird_reference(n, block, random_blocks, g_blocks):
    nb = -(-n // block)
    glob = set(range(g_blocks)) | set(range(nb - g_blocks, nb))

    def allowed(i, j):
        bi, bj = i // block, j // block
        return abs(bi - bj) <= 1 or bi in glob or bj in glob or bj in random_blocks[bi]

    return loop_mask(n, allowed)


@pytest.mark.parametrize("n,block,r", [(40, 4, 2), (37, 5, 3), (24, 4, 0)])
def test_bigbird_against_definition(n, block, r):
    nb = -(-n // block)
    g = torch.Generator().manual_seed(3)
    rb = sm.bigbird_random_blocks(nb, r, 1, g)
    for row, cols in enumerate(rb):
        if row in (0, nb - 1):
            assert cols == []  # global rows already see everything
            continue
        cand = [c for c in range(nb) if abs(c - row) > 1 and c not in (0, nb - 1)]
        assert len(set(cols)) == min(r, len(cand)) and set(cols) <= set(cand)
    assert torch.equal(sm.bigbird(n, block, r, 1, random_blocks=rb), bigbird_reference(n, block, rb, 1))
    # seeded: the same generator seed gives the same mask; the mask built from the draw is the one above
    assert torch.equal(
        sm.bigbird(n, block, r, 1, generator=torch.Generator().manual_seed(3)), bigbird_reference(n, block, rb, 1)
    )


def test_bigbird_seeds_differ():
    a = sm.bigbird(1024, 64, 3, generator=torch.Generator().manual_seed(0))
    b = sm.bigbird(1024, 64, 3, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(a, b) and a.sum() == b.sum()


def test_standard_densities():
    n = 4096
    # Longformer w = 512 + one global token: band rows hold min(i+256, n−1) − max(i−256, 0) + 1 keys
    band = sum(min(i + 256, n - 1) - max(i - 256, 0) + 1 for i in range(n))
    assert band == n * 513 - 256 * 257
    lf = sm.longformer(n, 512, [0])
    assert int(lf.sum()) == band + 2 * (n - 257)
    assert sm.density(lf) == pytest.approx(0.12178, abs=1e-5)
    # BigBird block 64, r = 3, first/last block global: 2 global rows of 64 blocks, 60 interior rows of
    # 3 + 2 + 3 blocks and 2 rows next to the globals of 3 + 1 + 3 → 622 of 64² blocks
    bb = sm.bigbird(n, 64, 3, 1, generator=torch.Generator().manual_seed(0))
    assert int(bb.sum()) == 622 * 64 * 64
    assert sm.density(bb) == pytest.approx(622 / 4096)
    # Sparse Transformer strided with l = √N = 64: about 2√N keys per row (half of that on average: causal)
    st = sm.sparse_strided(n, 64)
    assert sm.density(st) == pytest.approx((64 + 1 + 4096 / 64 / 2) / n, rel=0.05)


def test_the_masking_page_lists_the_registry_patterns_and_builds_them():
    """One place for sparse patterns: the Masking page's sparse kinds are the variant registry's pattern variants
    (no if-chain of its own), and the mask it builds is the registry's own mask with the page's sizes."""
    from xviz.analysis import masking
    from xviz.variants import VARIANTS, VariantParams

    patterns = {v.label: v for v in VARIANTS.values() if v.pattern is not None}
    assert set(masking.sparse_kinds()) == set(patterns) and set(patterns) <= set(masking.mask_kinds())
    for label, v in patterns.items():
        want = v.mask(40, VariantParams(window=6, stride=6, block=6, seed=3, causal=False))
        assert torch.equal(masking.build_mask(label, 40, window=6, seed=3), want), label
    assert torch.equal(masking.build_mask("Sliding window", 40, window=6), sm.sliding_window(40, 6))


def test_bad_arguments():
    for bad in (lambda: sm.sliding_window(0, 4), lambda: sm.strided(8, 0), lambda: sm.bigbird(8, 0)):
        with pytest.raises(ValueError):
            bad()
