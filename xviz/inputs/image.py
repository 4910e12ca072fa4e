"""Image input validation: every uploaded image passes here and comes out as an RGB PIL image (the bad-input
rules: docs/ARCHITECTURE.md, "Bad input").

Sizes are checked from the header, before any pixel is decoded (decompression bombs); 16-bit, CMYK, palette,
transparent and grayscale images are converted to 8-bit RGB (transparency composited on white); EXIF rotation is
applied; animated / multi-frame files give their first frame with a note. Everything else → InputError.
The result is a LoadedImage: the picture, what was done to it (notes), where it came from, and one digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from xviz.errors import InputError

MAX_BYTES = 50_000_000  # 50 MB file
MAX_PIXELS = 50_000_000  # 50 megapixels (e.g. 8660 × 5773), checked before decoding
MAX_SIDE = 16_384
MIN_SIDE = 16  # smaller than one ViT patch is not a picture
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")  # JPEG covers MPO (phones)


def image_digest(img: Image.Image) -> str:
    """The one cache key of an image's content: SHA-1 of its mode, size and pixels."""
    h = hashlib.sha1(f"{img.mode}{img.size}".encode())
    h.update(img.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An accepted image: the RGB picture, what loading did to it (first frame used, rotation, conversions,
    downscaling) and where it came from ("sample:chelsea", "upload:photo.jpg"). `digest` is computed once, on
    first use, and is the cache key wherever this image's content matters."""

    image: Image.Image
    notes: tuple[str, ...] = ()
    source: str = "image"

    @cached_property
    def digest(self) -> str:
        return image_digest(self.image)

    def __eq__(self, other) -> bool:
        return isinstance(other, LoadedImage) and (self.digest, self.notes, self.source) == (
            other.digest,
            other.notes,
            other.source,
        )

    def __hash__(self) -> int:
        return hash((self.digest, self.notes, self.source))


def as_pil(image) -> Image.Image:
    """A LoadedImage's picture, or the object itself (callers that take either)."""
    return image.image if isinstance(image, LoadedImage) else image


def load_image(data: bytes, name: str = "upload", source: str | None = None) -> LoadedImage:
    """Bytes of an image file → LoadedImage (RGB picture, notes, source; `source` defaults to "upload:name").
    Raises InputError with a sentence a user can act on."""
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
    orientation = _orientation(im)  # from the header: TIFF's decoder applies (and drops) the tag itself
    im = _upright(_decode(im, name))
    rgb = to_rgb(im, notes)
    if orientation in range(2, 9):
        notes.append("Rotated upright as its EXIF orientation says.")
    return LoadedImage(rgb, tuple(notes), source if source is not None else f"upload:{name}")


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            return Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except Image.DecompressionBombError as err:
        m = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(m.group(1)) / 1e6:,.0f} megapixels" if m else "an enormous size"
        raise InputError(
            f"{name} declares {size} (a decompression bomb?); the limit is {MAX_PIXELS / 1e6:.0f} megapixels. Refused."
        ) from None
    except UnidentifiedImageError:
        raise InputError(
            f"{name} is not an image xviz can read (supported: PNG, JPEG, GIF, BMP, TIFF, WebP, PPM)."
        ) from None
    except Exception as err:  # corrupt headers raise all sorts (SyntaxError, struct.error, ...)
        raise InputError(f"{name} could not be read as an image ({type(err).__name__}).") from None


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise InputError(
            f"{name} is {w} × {h} px ({w * h / 1e6:.0f} megapixels); the limit is "
            f"{MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first."
        )
    if max(w, h) > MAX_SIDE:
        raise InputError(f"{name} is {w} × {h} px; the limit is {MAX_SIDE} px per side. Downscale it first.")
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name} is only {w} × {h} px; images need at least {MIN_SIDE} px per side.")


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block is not worth refusing the picture
        return 1


def _upright(im: Image.Image) -> Image.Image:
    """Undo the EXIF orientation (Pillow's ImageOps.exif_transpose, in place on the decoded image)."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception:  # a broken EXIF block is not worth refusing the picture
        pass
    return im


def _decode(im: Image.Image, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.seek(0)
            im.load()
    except Image.DecompressionBombError:
        raise InputError(f"{name} is too large to decode safely; refused.") from None
    except Exception as err:
        raise InputError(
            f"{name} is damaged or truncated and could not be decoded ({type(err).__name__}: {str(err)[:80]})."
        ) from None
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


def fit_image(loaded: LoadedImage, max_side: int = 1024) -> LoadedImage:
    """Downscale (keeping the aspect ratio, Lanczos) so the longer side is ≤ max_side, with a note."""
    img = loaded.image
    if max(img.size) <= max_side:
        return loaded
    out = ImageOps.contain(img, (max_side, max_side), Image.Resampling.LANCZOS)  # sides round(w·s), round(h·s)
    if 0 in out.size:  # a sliver (ratio > 2·max_side) would round to 0 px: keep one
        out = img.resize((max(1, out.width), max(1, out.height)), Image.Resampling.LANCZOS)
    note = f"Downscaled from {img.width} × {img.height} to {out.width} × {out.height} px."
    return dataclasses.replace(loaded, image=out, notes=loaded.notes + (note,))
