"""The digits image set of the token-mixer models: the 1797 handwritten digits (8 × 8, 0–16 ink) of UCI's "Optical
Recognition of Handwritten Digits" as scikit-learn's `load_digits` returns them, shipped in `xviz/samples/digits.npz`
(45 kB; a test checks it equals `load_digits`), so scikit-learn is not needed at run time.

Pipeline (training, evaluation and the page all use these functions): ink / 16 → [0, 1], bilinear upsampling to
16 × 16 (so a ViT / Mixer patch of 4 px covers 2 × 2 original pixels), normalised (x − 0.5) / 0.5. The
train / held-out split is a fixed permutation (torch.Generator seeded with SPLIT_SEED), never the global RNG.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from xviz.errors import InputError
from xviz.inputs.image_batch import normalise as normalise_channels

SIZE = 16  # model input side (px)
MEAN, STD = (0.5,), (0.5,)  # one grey channel in [0, 1] → [−1, 1]
SPLIT_SEED = 0
TEST_FRACTION = 0.25  # 449 of 1797 images held out
DIGITS_FILE = Path(__file__).resolve().parent.parent / "samples" / "digits.npz"


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[torch.Tensor, torch.Tensor]:
    with np.load(DIGITS_FILE, allow_pickle=False) as d:
        images, target = d["images"], d["target"]
    x = torch.from_numpy(images.astype(np.float32) / 16.0)[:, None]  # (1797, 8, 8) -> (1797, 1, 8, 8) in [0, 1]
    return x, torch.from_numpy(target.astype(np.int64))


def upsample(x8: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(B, 1, 8, 8) in [0, 1] → (B, 1, size, size), bilinear (align_corners=False)."""
    return F.interpolate(x8, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def normalise(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] → model space: the one normalisation of xviz.inputs with the digits' MEAN and STD."""
    return normalise_channels(x01, MEAN, STD)


def split_indices(
    n: int, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION
) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


def load_split(part: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """ "train" or "test" → (images (B, 1, 16, 16) in [0, 1], labels (B,))."""
    x8, y = _raw()
    tr, te = split_indices(len(y))
    idx = {"train": tr, "test": te}[part]
    return upsample(x8[idx]), y[idx]


def shift(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Translate (B, C, H, W) by dx px right and dy px down; what leaves the frame is lost, zeros (no ink)
    come in. Not torch.roll: a roll would wrap the digit around."""
    B, C, H, W = x.shape
    out = torch.zeros_like(x)
    ys, yd = (slice(0, H - dy), slice(dy, H)) if dy >= 0 else (slice(-dy, H), slice(0, H + dy))
    xs, xd = (slice(0, W - dx), slice(dx, W)) if dx >= 0 else (slice(-dx, W), slice(0, W + dx))
    out[:, :, yd, xd] = x[:, :, ys, xs]
    return out


def image_to_digit(img) -> torch.Tensor:
    """A PIL image (any size xviz.inputs accepts) → (1, 1, 16, 16) in [0, 1], made like the training data:
    grey, bright ink on dark (inverted when the background is bright), stretched to 0–1, area-averaged to
    8 × 8 (as load_digits counted ink in 4 × 4 blocks of a 32 × 32 bitmap), then upsampled."""

    g = np.asarray(img.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    lo, hi = float(g.min()), float(g.max())
    if hi - lo < 0.05:
        raise InputError("The image is blank (one flat colour): nothing to classify. Draw or pick a digit.")
    g = (g - lo) / (hi - lo)
    if np.median(g) > 0.5:  # dark ink on a light background: invert to the data set's convention
        g = 1.0 - g
    small = Image.fromarray((g * 255).astype(np.uint8)).resize((8, 8), Image.Resampling.BOX)
    x8 = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)[None, None]  # (1, 1, 8, 8)
    return upsample(x8)


def to_pil(x01: torch.Tensor, scale: int = 1):
    """(1, 1, H, W) or (H, W) in [0, 1] → an RGB PIL image (optionally enlarged with nearest neighbours)."""

    arr = (x01.reshape(x01.shape[-2:]).clamp(0, 1).numpy() * 255).astype(np.uint8)
    im = Image.fromarray(arr, "L").convert("RGB")
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) if scale > 1 else im
