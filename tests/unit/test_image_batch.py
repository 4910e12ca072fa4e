"""The one image-input path (xviz.inputs.image_batch): every image model's pixel_values against a slow, independent
reference (geometry by exact fractions and numpy slicing, normalisation per channel in float64) or against the HF
image processor, one ImageBatch type for all models, and models never importing analysis / app."""

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import xviz
from xviz.errors import InputError
from xviz.inputs import IMAGENET_MEAN, IMAGENET_STD, ImageBatch, denormalise, normalise
from xviz.inputs.image_batch import prepare_image
from xviz.models.mae import MAEConfig, prepare_mae
from xviz.models.vit import ViT, ViTConfig
from xviz.samples import load_sample, sample_image, sample_names

BICUBIC, BILINEAR, BOX = Image.Resampling.BICUBIC, Image.Resampling.BILINEAR, Image.Resampling.BOX


def _rand(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


IMAGES = [("sample", n) for n in sample_names()] + [("rand", (300, 200)), ("rand", (17, 900)), ("rand", (999, 61))]


def _image(kind, arg) -> Image.Image:
    return load_sample(arg) if kind == "sample" else _rand(*arg)


def _ref_pixels(arr: np.ndarray, mean, std) -> np.ndarray:
    """uint8 (H, W, C) → (1, C, H, W) float64, one channel at a time."""
    arr = arr.reshape(arr.shape[0], arr.shape[1], -1)
    out = np.empty((1, arr.shape[2], arr.shape[0], arr.shape[1]))
    for c in range(arr.shape[2]):
        out[0, c] = (arr[..., c] / 255.0 - mean[c % len(mean)]) / std[c % len(std)]
    return out


def _ref_crop(img: Image.Image, H: int, W: int, ratio: Fraction) -> np.ndarray:
    w, h = img.size
    if ratio != 1 and H == W:  # short side → S / ratio, long side floor(short · long / short), as HF
        short = max(H, round(H / ratio))
        nw, nh = (short, int(Fraction(short * h, w))) if w <= h else (int(Fraction(short * w, h)), short)
    else:
        s = max(Fraction(max(H, round(H / ratio)), h), Fraction(max(W, round(W / ratio)), w))
        nw, nh = max(W, round(w * s)), max(H, round(h * s))
    arr = np.asarray(img.resize((nw, nh), BICUBIC))
    top, left = (nh - H) // 2, (nw - W) // 2
    return arr[top : top + H, left : left + W]


def _ref_pad(img: Image.Image, S: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    w, h = img.size
    nw, nh = (max(1, round(Fraction(v * S, max(w, h)))) for v in (w, h))
    out = np.zeros((S, S, 3), np.uint8)
    y0, x0 = (S - nh) // 2, (S - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = np.asarray(img.resize((nw, nh), BOX))
    return out, (x0, y0, x0 + nw, y0 + nh)


def _close(batch, ref: np.ndarray) -> None:
    np.testing.assert_allclose(batch["pixel_values"].numpy(), ref, atol=2e-6, rtol=0)


@pytest.fixture(scope="module")
def vit14():
    cfg = ViTConfig(hidden_size=32, num_layers=1, num_heads=2, mlp_hidden=64, patch_size=14, num_registers=2)
    return ViT(cfg).eval()


@pytest.mark.parametrize("kind,arg", IMAGES)
def test_vit_crop_pad_native_equal_reference(vit14, kind, arg):
    img = _image(kind, arg)
    mean, std = vit14.cfg.image_mean, vit14.cfg.image_std
    crop = vit14.prepare(img, size=224, mode="crop")  # 256 → 224, as HF DINOv2
    _close(crop, _ref_pixels(_ref_crop(img, 224, 224, Fraction(224, 256)), mean, std))
    assert crop.token_labels[:4] == ["CLS", "reg0", "reg1", "(0,0)"] and crop.num_prefix == 3
    pad = vit14.prepare(img, size=230, mode="pad")  # 230 → 224 (whole patches)
    ref, box = _ref_pad(img, 224)
    _close(pad, _ref_pixels(ref, mean, std))
    assert pad.box == box and pad.grid == (16, 16)
    rows = [r for r in range(16) if r * 14 < box[3] and (r + 1) * 14 > box[1]]  # patches touching content
    cols = [c for c in range(16) if c * 14 < box[2] and (c + 1) * 14 > box[0]]
    expected = np.zeros((16, 16), bool)
    expected[np.ix_(rows, cols)] = True
    assert (pad.valid.reshape(16, 16) == expected).all()
    native = vit14.prepare(img, size=224, mode="native")
    w, h = img.size
    nw, nh = (max(14, round(Fraction(v * 224, max(w, h) * 14)) * 14) for v in (w, h))
    _close(native, _ref_pixels(np.asarray(img.resize((nw, nh), BICUBIC)), mean, std))
    assert native.grid == (nh // 14, nw // 14) and native.valid.all()


def _hf_vit_processor():
    try:
        from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil as P
    except ImportError:
        P = pytest.importorskip("transformers").ViTImageProcessor
    return P


@pytest.mark.parametrize("name", sample_names())
def test_crop_equals_hf_dinov2_processor(name, vit14):
    """DINOv2's processor (BiT's): shortest edge → 256 (bicubic), centre crop 224, ImageNet mean / std."""
    try:
        from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil as P
    except ImportError:
        P = pytest.importorskip("transformers").BitImageProcessor
    img = load_sample(name)
    hf = P(
        size={"shortest_edge": 256},
        crop_size={"height": 224, "width": 224},
        resample=BICUBIC,
        do_convert_rgb=True,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )(images=img, return_tensors="np")["pixel_values"]
    ours = vit14.prepare(img, size=224, mode="crop")["pixel_values"].numpy()
    np.testing.assert_allclose(ours, hf, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sample_names())
def test_stretch_and_swin_equal_hf_processor(name):
    P = _hf_vit_processor()
    img = load_sample(name)
    vit = ViT(
        ViTConfig(
            hidden_size=32,
            num_layers=1,
            num_heads=2,
            mlp_hidden=64,
            patch_size=16,
            image_mean=(0.5,) * 3,
            image_std=(0.5,) * 3,
        )
    )
    hf = P()(images=img, return_tensors="np")["pixel_values"]  # 224 × 224 bilinear, mean/std 0.5
    np.testing.assert_allclose(vit.prepare(img, mode="stretch")["pixel_values"].numpy(), hf, atol=1e-6, rtol=0)
    swin = _swin()
    hf = P(
        size={"height": 224, "width": 224},
        resample=BICUBIC,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )(images=img, return_tensors="np")["pixel_values"]  # HF's Swin processor
    batch = swin.prepare(img)
    np.testing.assert_allclose(batch["pixel_values"].numpy(), hf, atol=1e-6, rtol=0)
    _close(batch, _ref_pixels(np.asarray(img.resize((224, 224), BICUBIC)), IMAGENET_MEAN, IMAGENET_STD))
    assert batch.array.shape == (224, 224, 3) and batch.grid == (56, 56) and batch.token_labels[0] == "(0,0)"


_SWIN = []


def _swin():
    if not _SWIN:
        _SWIN.append(xviz.load_model("swin-tiny"))
    return _SWIN[0]


@pytest.mark.parametrize("kind,arg", IMAGES)
@pytest.mark.parametrize("size", [(64, 64), (48, 40), (32, 96)])
def test_mae_cover_crop_equal_reference(kind, arg, size):
    img = _image(kind, arg)
    H, W = size
    rgb = MAEConfig(image_size=size, patch_size=8)
    _close(prepare_mae(img, rgb), _ref_pixels(_ref_crop(img, H, W, Fraction(1)), rgb.image_mean, rgb.image_std))
    gray = MAEConfig(image_size=size, patch_size=8, num_channels=1, image_mean=(0.5,), image_std=(0.25,))
    batch = prepare_mae(img, gray)
    assert batch["pixel_values"].shape == (1, 1, H, W) and batch.grid == (H // 8, W // 8)
    _close(batch, _ref_pixels(_ref_crop(img.convert("L"), H, W, Fraction(1)), (0.5,), (0.25,)))


def test_every_image_model_returns_the_one_imagebatch(vit14):
    img = load_sample("rocket")
    mae = xviz.load_model("mae-small")
    digits = xviz.load_model("vit-digits")
    for model in (vit14, _swin(), mae, digits):
        batch = model.prepare(img)
        assert type(batch) is ImageBatch and isinstance(batch.image, Image.Image)
        assert (
            len(batch.token_labels)
            == batch.num_prefix + len(batch.valid)
            == batch.num_prefix + batch.grid[0] * batch.grid[1]
        )
    d = digits.prepare(img)
    assert d["pixel_values"].shape == (1, 1, 16, 16) and d.grid == (4, 4) and d.token_labels[0] == "CLS"
    torch.testing.assert_close(mae.prepare(img)["pixel_values"], prepare_mae(img, mae.cfg)["pixel_values"])
    loaded = sample_image("rocket")
    assert torch.equal(vit14.prepare(loaded)["pixel_values"], vit14.prepare(img)["pixel_values"])  # LoadedImage ok


def test_normalise_denormalise_and_errors(vit14):
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    y = normalise(x, IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(y[:, 1], (x[:, 1] - 0.456) / 0.224)
    torch.testing.assert_close(denormalise(y, IMAGENET_MEAN, IMAGENET_STD), x, atol=1e-6, rtol=0)
    assert denormalise(torch.full((1, 1, 2, 2), 9.0), (0.5,), (0.5,)).max() == 1.0  # clamped for display
    img = _rand(40, 30)
    with pytest.raises(InputError, match="PIL image"):
        prepare_image(np.zeros((4, 4, 3)), 32, "crop", IMAGENET_MEAN, IMAGENET_STD, patch=8)
    with pytest.raises(InputError, match="resize mode"):
        prepare_image(img, 32, "zoom", IMAGENET_MEAN, IMAGENET_STD, patch=8)
    with pytest.raises(InputError, match="limit"):
        vit14.prepare(img, size=4000)
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))  # transparent → white, as uploads are
    assert (prepare_image(rgba, 16, "stretch", (0.0,) * 3, (1.0,) * 3, patch=8)["pixel_values"] == 1).all()


def test_models_never_import_analysis_or_app():
    root = Path(xviz.__file__).parent / "models"
    bad = [
        f"{p.name}: {m.group(0)}"
        for p in sorted(root.glob("*.py"))
        for m in re.finditer(r"(?m)^\s*(from|import)\s+xviz\.(analysis|app)\b.*$", p.read_text(encoding="utf-8"))
    ]
    assert bad == []
