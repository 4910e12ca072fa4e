"""Run an image model once and record what the Attention page (image mode) shows. Plain function; the app caches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from xviz.analysis.recorded_run import RecordedRun
from xviz.analysis.text_run import cpu_copy
from xviz.device import run_with_oom_fallback
from xviz.errors import InputError, ResourceError
from xviz.hooks import Recording, record
from xviz.inputs.image import LoadedImage

IMAGE_HOOKS = ["hook_embed", "blocks.*.attn.hook_probs", "blocks.*.hook_resid_post"]
MAX_RECORD_BYTES = 2 * 2**30
HALF_ABOVE = 256 * 2**20  # store float16 above this many bytes (probabilities keep ~3 significant digits)


@dataclass
class ImageRun(RecordedRun):
    rec: Recording
    image: Image.Image  # the model input as shown (resized / cropped / padded)
    grid: tuple[int, int]
    patch_size: int
    num_prefix: int
    valid: np.ndarray  # (gh·gw,) patch holds image content
    labels: list[str]
    notice: str | None = None
    key: str = ""  # plain cache key (model, image digest, size, mode) for derived statistics

    def resids(self) -> torch.Tensor:
        return self.rec.stack("resid_post")[:, 0].float()  # (L, N, C)


def estimate_image_record_bytes(model, n_tokens: int, bytes_per: int = 4) -> int:
    """Per block: probabilities (H·N²) + the residual stream (N·C), from the contract only (num_layers, num_heads,
    hidden_size). Swin: every block is costed as a first-stage block with global attention, an upper bound (the
    largest per-stage cost): stage s has N_s = N/4^s tokens, 2^s·H heads and 2^s·C channels, so its windowed
    probabilities N_s·m²·2^s·H (windows of m² <= N_s tokens) and residual N_s·2^s·C never exceed H·N² and N·C."""
    L, H, C = model.num_layers, model.num_heads, model.hidden_size
    return bytes_per * L * (H * n_tokens * n_tokens + n_tokens * C)


def _check_global_attention(model, rec: Recording, n: int) -> None:
    """The image views need one (1, H, N, N) map per block over the prefix tokens + the patch grid: a model whose
    attention is windowed (Swin), masked to a subset (MAE with masking) or not recorded gets a message."""
    name = getattr(model, "name", "") or "This model"
    if rec.num_layers("probs") == 0:
        raise InputError(f"{name} records no attention probabilities (its attention is not hooked), only streams.")
    for i in range(rec.num_layers("probs")):
        shape = tuple(rec["probs", i].shape)
        if shape[0] != 1 or shape[-1] != n or shape[-2] != n:
            raise InputError(
                f"{name} does not attend over the whole patch grid in every block (block {i}: {shape}, expected "
                f"(1, H, {n}, {n})): windowed attention such as Swin's is shown on the Swin windows page."
            )


def run_image(
    model,
    image: LoadedImage | Image.Image,
    size: int | None = None,
    mode: str | None = None,
    max_bytes: int = MAX_RECORD_BYTES,
) -> ImageRun:
    """Record one image (a LoadedImage, or a bare PIL image, wrapped as one) through an image model."""
    loaded = image if isinstance(image, LoadedImage) else LoadedImage(image)
    batch = model.prepare(loaded.image, size=size, mode=mode)
    n = batch.num_prefix + batch.grid[0] * batch.grid[1]
    need = estimate_image_record_bytes(model, n)
    if need > max_bytes:
        raise ResourceError(
            f"Recording {n} tokens would need about {need / 2**20:,.0f} MiB (limit "
            f"{max_bytes / 2**20:,.0f} MiB). Choose a smaller input size."
        )
    dtype = torch.float16 if need > HALF_ABOVE else None

    def forward(device: torch.device) -> Recording:
        m = model if device == model.device else cpu_copy(model)
        meta = {
            "input": loaded.source,
            "input_size": list(batch.image.size),
            "grid": list(batch.grid),
            "resize_mode": batch.mode,
        }
        with torch.no_grad(), record(m, names=IMAGE_HOOKS, dtype=dtype, meta=meta) as rec:
            m(pixel_values=batch["pixel_values"].to(device))
        return rec

    rec, notice = run_with_oom_fallback(forward, model.device)
    _check_global_attention(model, rec, n)
    if dtype is not None:
        note = f"The recording ({need / 2**20:,.0f} MiB in float32) is stored as float16."
        notice = f"{notice} {note}" if notice else note
    key = f"{getattr(model, 'name', type(model).__name__)}|{loaded.digest}|{batch.image.size}|{batch.mode}"
    return ImageRun(
        rec, batch.image, batch.grid, batch.patch_size, batch.num_prefix, batch.valid, batch.token_labels, notice, key
    )
