"""Bundled sample images (public domain / CC0, from scikit-image's skimage/data; see LICENSES.md), ≤ 512 px."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from xviz.errors import InputError
from xviz.inputs.image import load_image

_DIR = Path(__file__).parent
_FILES = {
    "astronaut": "astronaut.jpg",
    "chelsea": "chelsea.jpg",
    "coffee": "coffee.jpg",
    "rocket": "rocket.jpg",
    "camera": "camera.jpg",
    "retina": "retina.jpg",
}
CAPTIONS = {
    "astronaut": "Eileen Collins, NASA (public domain)",
    "chelsea": "Chelsea the cat (CC0, S. van der Walt)",
    "coffee": "Coffee cup (CC0, R. Michetti)",
    "rocket": "Falcon 9 launch, SpaceX (public domain)",
    "camera": "Camera man, grayscale (CC0, L. Varshney)",
    "retina": "Human retina (CC0, M. Häggström)",
}


def sample_names() -> list[str]:
    return list(_FILES)


def sample_path(name: str) -> Path:
    if name not in _FILES:
        raise InputError(f"Unknown sample image {name!r}; available: {', '.join(_FILES)}.")
    return _DIR / _FILES[name]


def sample_bytes(name: str) -> bytes:
    return sample_path(name).read_bytes()


def sample_image(name: str):
    """A bundled sample as a LoadedImage (source "sample:<name>"), through the same gate as uploads."""

    return load_image(sample_bytes(name), name, source=f"sample:{name}")


def load_sample(name: str) -> Image.Image:
    """A bundled sample as an RGB PIL image."""
    return sample_image(name).image
