"""Swin windows: partition / shift round trips, the SW-MSA mask against the official construction, the
relative position index against its definition, and the receptive field against boolean matrix products."""

import pytest
import torch

from xviz.analysis.swin_cost import msa_flops, receptive_field, receptive_field_sizes, wmsa_flops
from xviz.errors import InputError
from xviz.layers.windows import (
    cyclic_shift,
    cyclic_unshift,
    region_labels,
    relative_position_bias,
    relative_position_index,
    shifted_window_mask,
    window_config,
    window_groups,
    window_partition,
    window_reverse,
    window_token_positions,
)

SIZES = [
    (56, 56, 7, 3),
    (8, 12, 4, 2),
    (14, 21, 7, 3),
    (6, 9, 3, 1),
    (12, 8, 4, 1),
    (10, 15, 5, 4),
    (16, 16, 8, 4),
    (9, 6, 3, 2),
]


def official_windows(t: torch.Tensor, M: int) -> torch.Tensor:
    """Slow partition of an (H, W) map: windows row-major, tokens row-major inside → (nW, M²)."""
    H, W = t.shape
    return torch.stack([t[a : a + M, b : b + M].reshape(-1) for a in range(0, H, M) for b in range(0, W, M)])


def official_mask(H: int, W: int, M: int, s: int) -> torch.Tensor:
    """The official Swin construction: label 9 regions with three slices per axis, −100 where labels differ."""
    img_mask = torch.zeros(H, W)
    slices = (slice(0, -M), slice(-M, -s), slice(-s, None))
    cnt = 0
    for h in slices:
        for w in slices:
            img_mask[h, w] = cnt
            cnt += 1
    mw = official_windows(img_mask, M)  # (nW, M²)
    attn_mask = mw[:, None, :] - mw[:, :, None]
    attn_mask = attn_mask.masked_fill(attn_mask != 0, -100.0)
    return attn_mask == 0


@pytest.mark.parametrize("H,W,M,s", SIZES)
def test_mask_equals_official_construction(H, W, M, s):
    mask = shifted_window_mask(H, W, M, s)
    assert mask.dtype == torch.bool and mask.shape == ((H // M) * (W // M), M * M, M * M)
    assert torch.equal(mask, official_mask(H, W, M, s))
    assert torch.equal(mask, mask.transpose(1, 2))  # may-attend is symmetric
    assert mask.diagonal(dim1=1, dim2=2).all()  # every token attends to itself


def test_mask_counts_56_m7_s3():
    """Swin-T's first stage: at 56×56, M = 7, s = 3: 64 windows, the last column and last row (15) are masked."""
    mask = shifted_window_mask(56, 56, 7, 3)
    masked = (~mask).sum(dim=(1, 2)).view(8, 8)
    assert mask.shape[0] == 64
    assert int((masked > 0).sum()) == 15
    assert (masked[:7, :7] == 0).all()
    # edge windows split 4 | 3 rows or columns: 28 and 21 tokens → 2·28·21 forbidden pairs
    assert (masked[:7, 7] == 2 * 28 * 21).all() and (masked[7, :7] == 2 * 28 * 21).all()
    # the corner window holds 4 regions of 16, 12, 12, 9 tokens: 49² − (16² + 12² + 12² + 9²) = 1776
    assert int(masked[7, 7]) == 49**2 - (16**2 + 12**2 + 12**2 + 9**2) == 1776


def test_region_labels_nine_regions():
    lab = region_labels(56, 56, 7, 3)
    assert sorted(lab.unique().tolist()) == list(range(9))
    assert lab[0, 0] == 0 and lab[52, 0] == 3 and lab[55, 0] == 6 and lab[0, 49] == 1 and lab[55, 55] == 8
    counts = torch.bincount(lab.flatten(), minlength=9).view(3, 3)
    assert counts.tolist() == [[49 * 49, 49 * 4, 49 * 3], [4 * 49, 16, 12], [3 * 49, 12, 9]]


def test_shift_zero_and_window_not_smaller_than_map():
    assert shifted_window_mask(14, 14, 7, 0).all()
    assert window_config(7, 7, 7, 3) == (7, 0)  # map == window: one window, no shift
    assert window_config(5, 10, 7, 3) == (5, 0)  # window larger than the map: window = map side
    m = shifted_window_mask(5, 10, 7, 3)
    assert m.shape == (2, 25, 25) and m.all()
    assert (region_labels(7, 7, 7, 3) == 0).all()
    with pytest.raises(InputError):
        shifted_window_mask(10, 10, 4, 2)  # 10 is not a multiple of 4
    with pytest.raises(InputError):
        window_config(14, 14, 7, 7)  # shift must be < M


@pytest.mark.parametrize("H,W,M", [(8, 12, 4), (14, 21, 7), (6, 6, 3)])
def test_partition_reverse_round_trip(H, W, M):
    x = torch.randn(2, H, W, 5, generator=torch.Generator().manual_seed(0))
    w = window_partition(x, M)
    assert w.shape == (2 * (H // M) * (W // M), M, M, 5)
    assert torch.equal(w[0], x[0, :M, :M]) and torch.equal(w[1], x[0, :M, M : 2 * M])
    nw = (H // M) * (W // M)
    assert torch.equal(w[nw], x[1, :M, :M])  # second image's windows follow the first's
    assert torch.equal(window_reverse(w, M, H, W), x)
    assert torch.equal(official_windows(x[0, :, :, 0], M), w[:nw, :, :, 0].reshape(nw, -1))


def test_shift_unshift_round_trip():
    x = torch.arange(2 * 6 * 9).view(2, 6, 9, 1)
    r = cyclic_shift(x, 2)
    assert r[0, 0, 0, 0] == x[0, 2, 2, 0] and r[0, -1, -1, 0] == x[0, 1, 1, 0]
    assert torch.equal(cyclic_unshift(r, 2), x) and torch.equal(cyclic_shift(x, 0), x)


def test_window_token_positions():
    pos = window_token_positions(8, 12, 4, 2)
    assert pos.shape == (6, 16, 2)
    assert pos[0, 0].tolist() == [2, 2]  # the first shifted window starts at (s, s)
    assert pos[5, -1].tolist() == [1, 1]  # the corner window wraps around to (s−1, s−1)
    assert pos.view(-1, 2).unique(dim=0).shape[0] == 96  # every token in exactly one window


def test_relative_position_index_definition():
    for M in (2, 3, 7):
        idx = relative_position_index(M)
        for i in range(M * M):
            for j in range(M * M):
                dr, dc = i // M - j // M, i % M - j % M
                assert idx[i, j] == (dr + M - 1) * (2 * M - 1) + (dc + M - 1)
        assert idx.min() == 0 and idx.max() == (2 * M - 1) ** 2 - 1
        assert (idx.diagonal() == (2 * M - 1) ** 2 // 2).all()  # Δ = 0 is the table's centre
    from transformers.models.swin.modeling_swin import SwinRelativePositionBias

    hf = SwinRelativePositionBias(2, (7, 7))._create_relative_position_index()
    assert torch.equal(relative_position_index(7), hf)


def test_relative_position_bias_gather_and_smaller_window():
    table = torch.randn(49, 3, generator=torch.Generator().manual_seed(1))  # M = 4
    idx = relative_position_index(4)
    bias = relative_position_bias(table, idx, 3)
    assert bias.shape == (3, 16, 16)
    assert bias[2, 5, 9] == table[idx[5, 9], 2]
    assert bias[0, 15, 0] == table[48, 0] and bias[1, 0, 15] == table[0, 1]  # Δ = (±3, ±3): last / first row
    small = relative_position_index(2, table_window=4)  # a 2×2 window reads the centre of a 4-table
    assert small[0, 0] == 24 and small[0, 3] == (-1 + 3) * 7 + (-1 + 3)


def slow_receptive_field(H, W, M, token, k, shift):
    """e_t · A_k ⋯ A_1 with A_l the N×N may-attend matrix built from the mask and the window positions."""
    N = H * W
    mats = []
    for layer in range(k):
        s = shift if layer % 2 else 0
        A = torch.zeros(N, N, dtype=torch.bool)
        pos = window_token_positions(H, W, M, s)
        flat = pos[..., 0] * W + pos[..., 1]  # (nW, M²)
        mask = shifted_window_mask(H, W, M, s)
        for w in range(flat.shape[0]):
            A[flat[w][:, None], flat[w][None, :]] = mask[w]
        mats.append(A.float())
    v = torch.zeros(N)
    v[token[0] * W + token[1]] = 1
    for A in reversed(mats):
        v = ((v @ A) > 0).float()
    return v.view(H, W).bool()


@pytest.mark.parametrize("H,W,M,token,k", [(12, 12, 4, (0, 0), 3), (12, 16, 4, (5, 7), 4), (9, 9, 3, (8, 2), 5)])
def test_receptive_field_matches_matrix_products(H, W, M, token, k):
    rf = receptive_field(H, W, M, token, k)
    for j in range(1, k + 1):
        assert torch.equal((rf >= 0) & (rf <= j), slow_receptive_field(H, W, M, token, j, M // 2))
    assert window_groups(H, W, M, 0).unique().numel() == H * W // M**2  # unshifted: one group per window


def test_receptive_field_sizes():
    rows = receptive_field_sizes(56, 56, 7, (20, 20), 4)
    assert rows[0]["alternating"] == 1 and rows[1]["alternating"] == 49
    assert all(r["unshifted"] == 49 for r in rows[1:])  # without shifts the field never leaves the window
    assert rows[2]["alternating"] == 4 * 49  # one SW-MSA layer: the 4 windows it overlaps
    assert rows[3]["alternating"] > rows[2]["alternating"]


def test_cost_formulas():
    # Liu et al. 2021: h = w = 56, C = 96, M = 7
    h = w = 56
    C, M = 96, 7
    assert msa_flops(h, w, C) == 4 * 3136 * C * C + 2 * 3136**2 * C
    assert wmsa_flops(h, w, C, M) == 4 * 3136 * C * C + 2 * 49 * 3136 * C
    assert msa_flops(h, w, C) / wmsa_flops(h, w, C, M) == pytest.approx((4 * C + 2 * 3136) / (4 * C + 2 * 49))
