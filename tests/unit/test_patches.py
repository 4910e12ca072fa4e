import pytest
import torch

from xviz.layers.patches import (
    bayer_matrix,
    block_masking,
    grid_masking,
    make_mask,
    patch_mask_to_pixels,
    patchify,
    random_masking,
    unpatchify,
)


@pytest.mark.parametrize("C,H,W,p", [(3, 32, 48, 16), (1, 8, 24, 4), (5, 12, 6, 3)])
def test_patchify_round_trip_non_square_any_channels(C, H, W, p):
    x = torch.randn(2, C, H, W)
    patches = patchify(x, p)
    assert patches.shape == (2, (H // p) * (W // p), p * p * C)
    assert torch.equal(unpatchify(patches, p, H // p, W // p, channels=C), x)


def test_patchify_order_is_row_major_channel_last():
    # MAE layout: patch n = (row n // w, col n % w); inside a patch index (i·p + j)·C + c holds x[c, i, j]
    C, p = 3, 2
    x = torch.arange(C * 4 * 6, dtype=torch.float).reshape(1, C, 4, 6)
    patches = patchify(x, p)[0]  # (6, 12)
    for n in range(6):
        r, col = divmod(n, 3)
        for i in range(p):
            for j in range(p):
                for c in range(C):
                    assert patches[n, (i * p + j) * C + c] == x[0, c, r * p + i, col * p + j]


def test_patchify_rejects_non_multiple():
    with pytest.raises(ValueError):
        patchify(torch.zeros(1, 3, 10, 16), 4)


def test_random_masking_semantics():
    B, N, ratio = 3, 50, 0.75
    noise = torch.rand(B, N, generator=torch.Generator().manual_seed(0))
    ids_keep, is_masked, ids_restore = random_masking(B, N, ratio, noise=noise)
    keep = int(N * (1 - ratio))
    assert ids_keep.shape == (B, keep) and int((~is_masked).sum(1).unique()) == keep
    # kept = the patches with the smallest noise
    smallest = noise.topk(keep, dim=1, largest=False).indices.sort(1).values
    assert torch.equal(ids_keep.sort(1).values, smallest)
    assert torch.equal((~is_masked).nonzero()[:, 1].reshape(B, keep), smallest)
    # ids_restore inverts the shuffle: gather(shuffled, ids_restore) == original
    ids_shuffle = noise.argsort(1)
    x = torch.randn(B, N, 4)
    shuffled = x.gather(1, ids_shuffle[..., None].expand(-1, -1, 4))
    assert torch.equal(shuffled.gather(1, ids_restore[..., None].expand(-1, -1, 4)), x)
    assert torch.equal(ids_shuffle.gather(1, ids_restore), torch.arange(N).expand(B, N))


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 0.75, 0.9, 0.95])
@pytest.mark.parametrize("strategy", ["random", "block", "grid"])
def test_exact_kept_count_and_seed(strategy, ratio):
    B, N = 2, 14 * 14
    a = make_mask(strategy, B, N, ratio, torch.Generator().manual_seed(7))
    b = make_mask(strategy, B, N, ratio, torch.Generator().manual_seed(7))
    c = make_mask(strategy, B, N, ratio, torch.Generator().manual_seed(8))
    keep = int(N * (1 - ratio))
    ids_keep, is_masked, ids_restore = a
    assert ids_keep.shape == (B, keep)
    assert ((~is_masked).sum(1) == keep).all()
    assert torch.equal(is_masked.gather(1, ids_keep), torch.zeros(B, keep, dtype=torch.bool))
    assert torch.equal(ids_restore.argsort(1)[:, :keep], ids_keep)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    if 0 < ratio:
        assert not torch.equal(a[1], c[1])


def test_grid_masking_is_a_regular_grid_at_075():
    _, is_masked, _ = grid_masking(1, 16 * 16, 0.75, torch.Generator().manual_seed(3))
    vis = (~is_masked[0]).reshape(16, 16)
    rows, cols = vis.nonzero().T
    # one kept patch per 2×2 cell, all at the same offset
    assert len(set((rows % 2).tolist())) == 1 and len(set((cols % 2).tolist())) == 1
    assert vis.sum() == 64
    assert torch.equal(bayer_matrix(2), torch.tensor([[0, 2], [3, 1]]))


def test_block_masking_forms_blocks():
    # blockwise masks are spatially clustered: far more masked-masked neighbours than a random mask
    def neighbours(m):
        m = m.reshape(14, 14).float()
        return float((m[1:] * m[:-1]).sum() + (m[:, 1:] * m[:, :-1]).sum())

    g = torch.Generator().manual_seed(0)
    blk = sum(neighbours(block_masking(1, 196, 0.4, g)[1][0]) for _ in range(5))
    rnd = sum(neighbours(random_masking(1, 196, 0.4, g)[1][0]) for _ in range(5))
    assert blk > 1.5 * rnd


def test_non_square_grid_and_pixel_mask():
    ids_keep, is_masked, _ = block_masking(1, 6 * 10, 0.5, torch.Generator().manual_seed(1), grid_hw=(6, 10))
    assert (~is_masked).sum() == 30
    pix = patch_mask_to_pixels(is_masked, 4, (6, 10))
    assert pix.shape == (1, 1, 24, 40)
    assert torch.equal(patchify(pix, 4)[0, :, 0].bool(), is_masked[0])
    with pytest.raises(ValueError):
        grid_masking(1, 60, 0.5)  # not square, no grid_hw
    with pytest.raises(ValueError):
        random_masking(1, 10, 1.0)
