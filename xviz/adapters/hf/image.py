"""Images in, pixel batches out, for the Hugging Face adapter: the checkpoint's own preprocessing.

`read_image_prep(folder, vision_config)` reads `preprocessor_config.json` (size / shortest_edge, resample, centre
crop, rescale factor, mean / std) and, without one, takes the defaults of the HF image processor of that model type,
at the config's image size. `ImagePrepMixin.prepare_image` applies it (transformers' PIL backend, step for step:
resize → centre crop → rescale in float64 → normalise in float32), or one of xviz's resize modes with the same
normalisation, and returns an `ImageBatch` (pixels + grid + prefix tokens) on the model's device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image

from xviz.errors import InputError
from xviz.inputs.image import as_pil, to_rgb
from xviz.inputs.image_batch import (
    MAX_INPUT,
    ImageBatch,
    centre_crop,
    rescale_normalise,
    resize_for_model,
    shortest_edge_size,
)

HALF, IMAGENET = (0.5, 0.5, 0.5), (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
BICUBIC, BILINEAR = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR


@dataclass(frozen=True)
class ImagePrep:
    """One image processor's settings: resize to (H, W) or to a shortest edge, then an optional centre crop."""

    size: tuple[int, int] | None = (224, 224)  # (H, W) of a plain resize
    shortest_edge: int | None = None  # … or the short side, aspect ratio kept
    crop: tuple[int, int] | None = None  # centre crop (H, W) after the resize
    resample: int = BILINEAR
    rescale: float = 1 / 255
    normalize: bool = True
    mean: tuple[float, ...] = HALF
    std: tuple[float, ...] = HALF

    @property
    def final(self) -> tuple[int, int] | None:
        """(H, W) of what the model sees (None: a shortest-edge resize without crop keeps the aspect ratio)."""
        return self.crop or self.size

    def scaled(self, side: int) -> ImagePrep:
        """The same recipe for a square input of `side` px (every length scaled by side / the final side)."""
        final = self.final or (self.shortest_edge, self.shortest_edge)
        f = side / final[0]
        sq = (side, side)
        return replace(
            self,
            size=sq if self.size else None,
            shortest_edge=round(self.shortest_edge * f) if self.shortest_edge else None,
            crop=sq if self.crop else None,
        )


# The HF image processor of each model type (transformers' *ImageProcessorPil class defaults), at 224 px
_DEFAULTS = {
    "vit": ImagePrep(),
    "vit_mae": ImagePrep(),
    "swin": ImagePrep(),  # HF maps swin to ViTImageProcessor
    "deit": ImagePrep(size=(256, 256), crop=(224, 224), resample=BICUBIC),
    "beit": ImagePrep(resample=BICUBIC),
    "clip": ImagePrep(None, 224, (224, 224), BICUBIC, mean=CLIP_MEAN, std=CLIP_STD),
    "siglip": ImagePrep(resample=BICUBIC),
    "dinov2": ImagePrep(None, 224, (224, 224), BICUBIC, mean=CLIP_MEAN, std=CLIP_STD),  # BitImageProcessor
}
_INT_IS_SHORTEST = {"clip", "siglip", "dinov2"}  # their processors read a bare int size as a shortest edge
_FAMILY = {"clip_vision_model": "clip", "siglip_vision_model": "siglip", "dinov2_with_registers": "dinov2"}


def _hw(d) -> tuple[int, int] | None:
    if isinstance(d, int):
        return (d, d)
    if isinstance(d, dict) and "height" in d and "width" in d:
        return (int(d["height"]), int(d["width"]))
    return None


def default_prep(model_type: str, image_size: int | None) -> ImagePrep:
    """The processor defaults of this model type, scaled to the config's image size."""
    family = _FAMILY.get(model_type, model_type)
    prep = _DEFAULTS.get(family, ImagePrep(resample=BICUBIC))
    if image_size and image_size != (prep.final or (0,))[0]:
        prep = prep.scaled(int(image_size))
    return prep


def _from_json(pc: dict, base: ImagePrep, family: str) -> ImagePrep:
    size = pc.get("size", None)
    if isinstance(size, int) and family in _INT_IS_SHORTEST:
        size = {"shortest_edge": size}
    kw: dict = {}
    if isinstance(size, dict) and "shortest_edge" in size:
        kw.update(size=None, shortest_edge=int(size["shortest_edge"]))
    elif _hw(size):
        kw.update(size=_hw(size), shortest_edge=None)
    if "do_center_crop" in pc or "crop_size" in pc:
        crop = _hw(pc.get("crop_size")) or base.crop
        kw["crop"] = crop if pc.get("do_center_crop", base.crop is not None) else None
    if isinstance(pc.get("resample"), int):
        kw["resample"] = Image.Resampling(pc["resample"])
    if pc.get("do_rescale", True) is False:
        kw["rescale"] = 1.0
    elif isinstance(pc.get("rescale_factor"), (int, float)):
        kw["rescale"] = float(pc["rescale_factor"])
    if "do_normalize" in pc:
        kw["normalize"] = bool(pc["do_normalize"])
    for k in ("image_mean", "image_std"):
        v = pc.get(k)
        if isinstance(v, (int, float)):
            v = [v] * 3
        if isinstance(v, list) and v:
            kw[k.removeprefix("image_")] = tuple(float(x) for x in v)
    return replace(base, **kw)


def read_image_prep(folder: Path | str | None, model_type: str, image_size: int | None) -> ImagePrep:
    """preprocessor_config.json of the folder when present (fields it lacks: the model type's defaults), else the
    model type's defaults at the config's image size. A malformed file is ignored (the defaults)."""
    base = default_prep(model_type, image_size)
    path = Path(folder) / "preprocessor_config.json" if folder else None
    if path is None or not path.is_file():
        return base
    try:
        return _from_json(json.loads(path.read_text(encoding="utf-8")), base, _FAMILY.get(model_type, model_type))
    except (ValueError, TypeError, KeyError, AttributeError):
        return base


def apply_prep(img: Image.Image, prep: ImagePrep) -> Image.Image:
    """Resize (and crop) as the HF processor does; → the model-input picture."""
    if prep.shortest_edge:
        img = img.resize(shortest_edge_size(*img.size, prep.shortest_edge), prep.resample)
    elif prep.size:
        img = img.resize((prep.size[1], prep.size[0]), prep.resample)
    return centre_crop(img, prep.crop) if prep.crop else img


def _side(size) -> int | None:
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise InputError(f"Input size must be a whole number of pixels, got {size!r}.")
    if size > MAX_INPUT:
        raise InputError(f"Input size {size} px is above the limit of {MAX_INPUT} px.")
    return size


@dataclass(frozen=True)
class VisionSpec:
    """What an image tower needs besides the recipe: patch size, prefix-token labels, the trained size."""

    patch: int
    prefix: tuple[str, ...]
    image_size: int | None
    channels: int = 3


def prepare_hf_image(image, prep: ImagePrep, spec: VisionSpec, size=None, mode=None, device="cpu") -> ImageBatch:
    """PIL image (or LoadedImage) → ImageBatch. `mode` None / "model default": the checkpoint's recipe (at `size`
    px when given); "pad" / "crop" / "stretch" / "native": xviz's resize modes with the checkpoint's resampling
    and normalisation. `interpolate_pos_encoding` is set when the input is not the trained size."""
    img = as_pil(image)
    if not isinstance(img, Image.Image):
        raise InputError(f"Expected a PIL image, got {type(img).__name__}; load files with xviz.inputs.load_image.")
    img = img if img.mode == "RGB" else to_rgb(img)
    img = img.convert("L") if spec.channels == 1 else img
    side = _side(size)
    box = None
    if mode in (None, "model default"):
        recipe = prep if side is None or side == (prep.final or (None,))[0] else prep.scaled(side)
        pic = apply_prep(img, recipe)
    else:
        pic, box = resize_for_model(
            img, side or (prep.final or (224, 224))[0], spec.patch, mode, resample=prep.resample
        )
    if min(pic.size) < spec.patch:
        raise InputError(f"The model input is {pic.size[0]}×{pic.size[1]} px: smaller than one {spec.patch}-px patch.")
    pixels = rescale_normalise(pic, prep.rescale, prep.mean, prep.std, prep.normalize).to(device)
    batch = ImageBatch.build(pixels, pic, spec.patch, mode or "model default", spec.prefix, box)
    if spec.image_size and (pic.size[1], pic.size[0]) != (spec.image_size, spec.image_size):
        batch["interpolate_pos_encoding"] = True
    return batch


def vision_config(config):
    """The vision tower's config of a CLIP-like config, else the config itself."""
    return getattr(config, "vision_config", None) or config


def vision_spec(config, prefix: tuple[str, ...]) -> VisionSpec:
    vc = vision_config(config)
    patch = vc.patch_size[0] if isinstance(vc.patch_size, (list, tuple)) else vc.patch_size
    size = vc.image_size[0] if isinstance(vc.image_size, (list, tuple)) else vc.image_size
    return VisionSpec(int(patch), prefix, int(size) if size else None, int(getattr(vc, "num_channels", 3) or 3))


def mae_full_view(batch: ImageBatch) -> ImageBatch:
    """ViTMAE through the adapter: noise 0, 1, 2, … keeps every patch in order (argsort of the noise), with the
    model's mask_ratio set to 0 at load: its encoder then sees the whole grid, like any ViT."""
    n = batch.grid[0] * batch.grid[1]
    batch["noise"] = torch.arange(n, dtype=torch.float32, device=batch["pixel_values"].device)[None]  # (1, N)
    return batch


class ImagePrepMixin:
    """prepare_image for an HFModel (or a CLIP's image tower) with `image_prep` and `vision_spec` set at load."""

    image_prep: ImagePrep | None
    vision_spec: VisionSpec | None
    model_type: str
    name: str

    def prepare_image(self, image, size: int | None = None, mode: str | None = None) -> ImageBatch:
        """PIL image → ImageBatch (`model(**batch)`) with the checkpoint's preprocessing; `size` (px) and `mode`
        ("model default", "pad", "crop", "stretch", "native") as for xviz's own image models."""
        if self.image_prep is None or self.vision_spec is None:
            raise InputError(f"{self.name or self.model_type} has no image tower: it takes text, not images.")
        batch = prepare_hf_image(image, self.image_prep, self.vision_spec, size, mode, self.device)
        return mae_full_view(batch) if self.model_type == "vit_mae" else batch
