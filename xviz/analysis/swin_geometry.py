"""What the Swin page shows, computed without streamlit: the picture on a token grid, the cyclic-shift steps,
one window's tokens and mask, and real window attention recorded from a Swin model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers.windows import (
    cyclic_shift,
    cyclic_unshift,
    region_labels,
    shifted_window_mask,
    window_config,
    window_partition,
    window_token_positions,
)


def grid_image(image, H: int, W: int, max_px: int = 448) -> tuple[np.ndarray, int]:
    """PIL image → (uint8 (H·q, W·q, 3), q): centre-cropped to the H:W aspect and resized so that every token of
    the H×W grid covers q×q pixels (q >= 2, longer side about max_px)."""

    q = max(2, max_px // max(H, W))
    img = image.convert("RGB")
    w0, h0 = img.size
    if w0 * H > h0 * W:  # too wide: crop columns
        cw = h0 * W / H
        box = ((w0 - cw) / 2, 0, (w0 + cw) / 2, h0)
    else:
        ch = w0 * H / W
        box = (0, (h0 - ch) / 2, w0, (h0 + ch) / 2)
    return np.asarray(img.resize((W * q, H * q), Image.Resampling.BICUBIC, box=box)), q


@dataclass
class ShiftSteps:
    before: np.ndarray  # (H·q, W·q, 3) the picture
    rolled: np.ndarray  # the picture rolled by (−s·q, −s·q) pixels: cyclic_shift on pixels
    labels: torch.Tensor  # (H, W) region labels 0–8 on the rolled token grid
    regions_per_window: torch.Tensor  # (nH, nWw) distinct regions inside each window of the rolled map
    restored: np.ndarray  # rolled back: cyclic_unshift(rolled) == before
    M: int
    shift: int


def shift_steps(pic: np.ndarray, q: int, M: int, shift: int) -> ShiftSteps:
    """The cyclic shift of Swin's SW-MSA, applied to the picture itself (token shift s = s·q pixels)."""
    H, W = pic.shape[0] // q, pic.shape[1] // q
    M, shift = window_config(H, W, M, shift)
    px = torch.from_numpy(np.array(pic))[None]  # (1, H·q, W·q, 3), a writable copy
    rolled = cyclic_shift(px, shift * q)
    labels = region_labels(H, W, M, shift)
    return ShiftSteps(
        pic,
        rolled[0].numpy(),
        labels,
        regions_per_window(labels, M),
        cyclic_unshift(rolled, shift * q)[0].numpy(),
        M,
        shift,
    )


def regions_per_window(labels: torch.Tensor, M: int) -> torch.Tensor:
    """(H, W) labels → (nH, nWw): how many regions each M×M window holds (1 = unmasked, 2 or 4 = masked)."""
    H, W = labels.shape
    lw = window_partition(labels[None, :, :, None], M).reshape(-1, M * M)  # (nW, M²)
    counts = torch.tensor([row.unique().numel() for row in lw])
    return counts.view(H // M, W // M)  # (nH, nWw)


@dataclass
class WindowDetail:
    index: int
    M: int
    shift: int
    labels: torch.Tensor  # (M, M) region label of each token of the window
    mask: torch.Tensor  # (M², M²) bool, True = may attend
    positions: torch.Tensor  # (M², 2) (row, col) of each token in the original map
    masked_pairs: int


def window_detail(H: int, W: int, M: int, shift: int, index: int) -> WindowDetail:
    """One window of the (shifted) partition: its tokens' places on the picture, their labels and the mask."""
    M, shift = window_config(H, W, M, shift)
    mask = shifted_window_mask(H, W, M, shift)
    if not 0 <= index < mask.shape[0]:
        raise InputError(f"Window {index} does not exist; this map has {mask.shape[0]} windows.")
    lw = window_partition(region_labels(H, W, M, shift)[None, :, :, None], M)[index, :, :, 0]  # (M, M)
    m = mask[index]
    return WindowDetail(index, M, shift, lw, m, window_token_positions(H, W, M, shift)[index], int((~m).sum()))


@dataclass
class WindowAttention:
    block: int
    grid: tuple[int, int]  # (h, w) feature map of the block
    M: int
    shift: int
    probs: torch.Tensor  # (H, M², M²) of the chosen window, all heads
    positions: torch.Tensor  # (M², 2) tokens' (row, col) on the block's map (original frame)
    mask: torch.Tensor  # (M², M²) the mask the block used (all True for W-MSA)
    num_windows: int
    index: int = 0


@torch.no_grad()
def record_window_probs(model, batch: dict, blocks: list[int]) -> dict[int, torch.Tensor]:
    """Run the model once, recording only the chosen blocks' probabilities: {block: (B·nW, H, M², M²)}."""
    names = [f"blocks.{b}.attn.hook_probs" for b in blocks]
    with record(model, names=names) as rec:
        model(pixel_values=batch["pixel_values"])
    return {b: rec["probs", b] for b in blocks}


def window_attention(model, probs: torch.Tensor, block: int, window: int) -> WindowAttention:
    """Pick window `window` (of image 0) from a block's recorded probabilities, with its tokens' places."""
    h, w = model.block_grid(block)
    blk = model.blocks[block]
    m, s = window_config(h, w, blk.window_size, blk.shift)
    hp, wp = h + (-h) % m, w + (-w) % m
    n_win = (hp // m) * (wp // m)
    if not 0 <= window < n_win:
        raise InputError(f"Window {window} does not exist; block {block} has {n_win} windows.")
    pos = window_token_positions(hp, wp, m, s)[window]
    return WindowAttention(
        block, (h, w), m, s, probs[window].float(), pos, shifted_window_mask(hp, wp, m, s)[window], n_win, window
    )


def stage_pairs(model) -> list[tuple[int, int, int]]:
    """(stage, W-MSA block, SW-MSA block) for every consecutive even/odd block pair of each stage."""
    out, stages = [], model.block_stage
    for i in range(len(stages) - 1):
        if stages[i] == stages[i + 1] and model.blocks[i].shift == 0 and model.blocks[i + 1].shift > 0:
            out.append((stages[i], i, i + 1))
    return out


def window_crop(rolled: np.ndarray, q: int, M: int, index: int) -> np.ndarray:
    """Pixels of window `index` of the rolled picture (what that window's tokens see): (M·q, M·q, 3)."""
    n_across = rolled.shape[1] // (q * M)
    r, c = divmod(index, n_across)
    return rolled[r * M * q : (r + 1) * M * q, c * M * q : (c + 1) * M * q]


def window_pixels(pic: np.ndarray, wa: WindowAttention) -> np.ndarray:
    """What one window of a block sees, as pixels: the picture (q px per token of the block's map) zero-padded to
    whole windows, rolled by (−s·q, −s·q), cropped to the window: (M·q, M·q, 3)."""
    h, w = wa.grid
    q = pic.shape[0] // h
    hp, wp = h + (-h) % wa.M, w + (-w) % wa.M
    padded = np.zeros((hp * q, wp * q, 3), dtype=np.uint8)
    padded[: h * q, : w * q] = pic[: h * q, : w * q]
    rolled = cyclic_shift(torch.from_numpy(padded)[None], wa.shift * q)[0].numpy()  # (hp·q, wp·q, 3)
    return window_crop(rolled, q, wa.M, wa.index)
