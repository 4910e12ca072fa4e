"""Run an image model once and record what the Attention page (image mode) shows. Plain function; the app caches."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from xviz.analysis.recorded_run import RecordedRun
from xviz.device import run_with_oom_fallback
from xviz.errors import ResourceError
from xviz.hooks import Recording, record

IMAGE_HOOKS = ["hook_embed", "blocks.*.attn.hook_probs", "blocks.*.hook_resid_post"]
MAX_RECORD_BYTES = 2 * 2**30
HALF_ABOVE = 256 * 2**20  # store float16 above this many bytes (probabilities keep ~3 significant digits)


@dataclass
class ImageRun(RecordedRun):
    rec: Recording
    image: Image.Image           # the model input as shown (resized / cropped / padded)
    grid: tuple[int, int]
    patch_size: int
    num_prefix: int
    valid: np.ndarray            # (gh·gw,) patch holds image content
    labels: list[str]
    notice: str | None = None
    key: str = ""                # plain cache key (model, image digest, size, mode) for derived statistics

    def resids(self) -> torch.Tensor:
        return self.rec.stack("resid_post")[:, 0].float()  # (L, N, C)


def image_digest(img: Image.Image) -> str:
    """A plain cache key for an image: SHA-1 of its mode, size and pixels."""
    h = hashlib.sha1(f"{img.mode}{img.size}".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def estimate_image_record_bytes(model, n_tokens: int, bytes_per: int = 4) -> int:
    cfg = model.cfg
    return bytes_per * cfg.num_layers * (cfg.num_heads * n_tokens * n_tokens + n_tokens * cfg.hidden_size)


def run_image(model, image: Image.Image, size: int | None = None, mode: str | None = None,
              max_bytes: int = MAX_RECORD_BYTES) -> ImageRun:
    batch = model.prepare(image, size=size, mode=mode)
    n = batch.num_prefix + batch.grid[0] * batch.grid[1]
    need = estimate_image_record_bytes(model, n)
    if need > max_bytes:
        raise ResourceError(f"Recording {n} tokens would need about {need / 2**20:,.0f} MiB (limit "
                            f"{max_bytes / 2**20:,.0f} MiB). Choose a smaller input size.")
    dtype = torch.float16 if need > HALF_ABOVE else None

    def forward(device: torch.device) -> Recording:
        m = model if device == model.device else _cpu_copy(model)
        meta = {"input": image.info.get("xviz_source", "image"), "input_size": list(batch.image.size),
                "grid": list(batch.grid), "resize_mode": batch.mode}
        with torch.no_grad(), record(m, names=IMAGE_HOOKS, dtype=dtype, meta=meta) as rec:
            m(pixel_values=batch["pixel_values"].to(device))
        return rec

    rec, notice = run_with_oom_fallback(forward, model.device)
    if dtype is not None:
        note = f"The recording ({need / 2**20:,.0f} MiB in float32) is stored as float16."
        notice = f"{notice} {note}" if notice else note
    key = f"{getattr(model, 'name', type(model).__name__)}|{image_digest(image)}|{batch.image.size}|{batch.mode}"
    return ImageRun(rec, batch.image, batch.grid, batch.patch_size, batch.num_prefix, batch.valid,
                    batch.token_labels, notice, key)


def _cpu_copy(model):
    import copy
    return copy.deepcopy(model).to("cpu")
