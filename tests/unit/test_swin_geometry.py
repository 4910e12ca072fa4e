"""What the Swin page computes, without streamlit: picture on a token grid, shift steps, window details, costs."""

import numpy as np
import torch
from PIL import Image

from xviz.analysis import swin_geometry as V
from xviz.analysis.swin_cost import cost_curve
from xviz.analysis.swin_geometry import WindowAttention


def _picture(h=300, w=200):
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_grid_image_size_and_aspect():
    pic, q = V.grid_image(_picture(), 14, 56)
    assert q == 448 // 56 and pic.shape == (14 * q, 56 * q, 3)
    pic, q = V.grid_image(_picture(), 120, 120)
    assert q == 3 and pic.shape == (360, 360, 3)


def test_shift_steps_roll_and_region_counts():
    pic, q = V.grid_image(_picture(), 56, 56)
    st = V.shift_steps(pic, q, 7, 3)
    assert np.array_equal(st.rolled, np.roll(pic, (-3 * q, -3 * q), axis=(0, 1)))
    assert np.array_equal(st.restored, pic)
    counts = st.regions_per_window
    assert counts.shape == (8, 8) and int((counts == 1).sum()) == 49 and int((counts == 2).sum()) == 14
    assert counts[7, 7] == 4
    flat = V.shift_steps(pic, q, 7, 0)  # shift 0: nothing rolls, nothing is masked
    assert np.array_equal(flat.rolled, pic) and (flat.regions_per_window == 1).all()


def test_window_detail_and_pixels():
    d = V.window_detail(56, 56, 7, 3, 63)
    assert d.masked_pairs == 1776 and sorted(d.labels.unique().tolist()) == [4, 5, 7, 8]
    assert d.positions[0].tolist() == [52, 52] and d.positions[-1].tolist() == [2, 2]  # wraps to the top-left
    pic = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)  # 8×8 map, 1 px per token
    wa = WindowAttention(
        1, (8, 8), 4, 2, torch.zeros(1, 16, 16), d.positions[:16], torch.ones(16, 16, dtype=bool), 4, index=3
    )
    crop = V.window_pixels(pic, wa)
    assert np.array_equal(crop, np.roll(pic, (-2, -2), axis=(0, 1))[4:8, 4:8])


def test_cost_curve_ratio():
    rows = cost_curve([224, 448], patch=4, C=96, M=7)
    assert rows[0]["tokens"] == 3136 and rows[1]["tokens"] == 12544
    # ratio = (4C + 2hw) / (4C + 2M²): grows linearly with the number of tokens
    assert abs(rows[0]["ratio"] - (4 * 96 + 2 * 3136) / (4 * 96 + 2 * 49)) < 1e-9
    assert rows[1]["msa_entries"] == 12544**2 and rows[1]["wmsa_entries"] == 12544 * 49
