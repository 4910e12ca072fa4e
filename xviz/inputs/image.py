"""Image input validation: every uploaded image passes here and comes out as an RGB PIL image (DESIGN §5).

Sizes are checked from the header, before any pixel is decoded (decompression bombs); 16-bit, CMYK, palette,
transparent and grayscale images are converted to 8-bit RGB (transparency composited on white); EXIF rotation is
applied; animated / multi-frame files give their first frame with a note. Everything else → InputError.
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from xviz.errors import InputError

MAX_BYTES = 50_000_000          # 50 MB file
MAX_PIXELS = 50_000_000         # 50 megapixels (e.g. 8660 × 5773), checked before decoding
MAX_SIDE = 16_384
MIN_SIDE = 16                   # smaller than one ViT patch is not a picture
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # JPEG covers MPO (phones)
NOTES_KEY = "xviz_notes"

# EXIF Orientation tag (0x0112) → the transpose that undoes it (as in PIL.ImageOps.exif_transpose).
_ORIENT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}


def load_image(data: bytes, name: str = "upload") -> Image.Image:
    """Bytes of an image file → RGB PIL image. Notes (first frame used, EXIF rotation, conversions) are in
    `image_notes(img)`. Raises InputError with a sentence a user can act on."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"Expected the bytes of an image file, got {type(data).__name__}.")
    data = bytes(data)
    if len(data) == 0:
        raise InputError(f"{name} is empty (0 bytes).")
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is {len(data) / 1e6:.0f} MB; images are limited to {MAX_BYTES / 1e6:.0f} MB.")
    im = _open(data, name)
    _check_size(im.size, name)
    notes = []
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        notes.append(f"{name} has {frames} frames (animated or multi-page); the first frame is used.")
    orientation = _orientation(im)
    im = _decode(im, name)
    rgb = to_rgb(im, notes)
    if orientation in _ORIENT:
        rgb = rgb.transpose(_ORIENT[orientation])
        notes.append("Rotated upright as its EXIF orientation says.")
    rgb.info[NOTES_KEY] = notes
    return rgb


def image_notes(img: Image.Image) -> list[str]:
    """What load_image did to the file (first frame used, rotation, conversions)."""
    return list(img.info.get(NOTES_KEY, []))


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            return Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as err:
        m = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(m.group(1)) / 1e6:,.0f} megapixels" if m else "an enormous size"
        raise InputError(f"{name} declares {size} (a decompression bomb?); the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels. Refused.") from None
    except UnidentifiedImageError:
        raise InputError(f"{name} is not an image xviz can read (supported: PNG, JPEG, GIF, BMP, TIFF, "
                         "WebP, PPM).") from None
    except Exception as err:  # corrupt headers raise all sorts (SyntaxError, struct.error, ...)
        raise InputError(f"{name} could not be read as an image ({type(err).__name__}).") from None


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(f"{name} is {w} × {h} px ({w * h / 1e6:.0f} megapixels); the limit is "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first.")
    if max(w, h) > MAX_SIDE:
        raise InputError(f"{name} is {w} × {h} px; the limit is {MAX_SIDE} px per side. Downscale it first.")
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name} is only {w} × {h} px; images need at least {MIN_SIDE} px per side.")


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is not worth refusing the picture
        return 1


def _decode(im: Image.Image, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.seek(0)
            im.load()
    except Image.DecompressionBombError:
        raise InputError(f"{name} is too large to decode safely; refused.") from None
    except Exception as err:
        raise InputError(f"{name} is damaged or truncated and could not be decoded ({type(err).__name__}: "
                         f"{str(err)[:80]}).") from None
    return im


def to_rgb(im: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """Any PIL mode → 8-bit RGB: high bit depth rescaled, transparency composited on white, CMYK converted."""
    notes = notes if notes is not None else []
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            hi = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
            arr = arr / hi * 255.0
            notes.append("16-bit image scaled to 8 bits.")
        elif mode == "F":
            lo, hi = float(arr.min(initial=0)), float(arr.max(initial=0))
            arr = (arr - lo) / (hi - lo or 1.0) * 255.0
            notes.append("Floating-point image rescaled to 0–255.")
        im = Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8), "L")
        mode = "L"
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        if rgba.getextrema()[3][0] < 255:
            notes.append("Transparent areas are shown on white.")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB.")
    return im.convert("RGB")


def fit_image(img: Image.Image, max_side: int = 1024) -> Image.Image:
    """Downscale (keeping the aspect ratio) so the longer side is ≤ max_side; notes are kept."""
    notes = image_notes(img)
    if max(img.size) <= max_side:
        return img
    w, h = img.size
    s = max_side / max(w, h)
    out = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    out.info[NOTES_KEY] = notes + [f"Downscaled from {w} × {h} to {out.size[0]} × {out.size[1]} px."]
    return out
