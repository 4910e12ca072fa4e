"""`mae-shapes`: xviz's own MAE (xviz.models.mae) trained on the shapes world: its configuration and the held-out
scenes its PSNR is measured on (scripts/train_mae_shapes.py, benchmarks/bench_mae_shapes.py, the tests)."""

from __future__ import annotations

import torch

from xviz.data import shapes
from xviz.models.mae import MAEConfig

EVAL_SEED = 300_000  # held-out scenes: test-split seeds from here


def mae_config(width: int = 128, depth: int = 4, dec_width: int = 96, dec_depth: int = 2) -> MAEConfig:
    """8-px patches of the 64-px scene (an 8 × 8 grid), plain-pixel targets, the shapes world's MEAN/STD."""
    return MAEConfig(
        image_size=(shapes.IMAGE_SIZE, shapes.IMAGE_SIZE),
        patch_size=8,
        hidden_size=width,
        num_layers=depth,
        num_heads=4,
        mlp_hidden=4 * width,
        decoder_hidden_size=dec_width,
        decoder_layers=dec_depth,
        decoder_heads=4,
        decoder_mlp_hidden=4 * dec_width,
        image_mean=shapes.MEAN,
        image_std=shapes.STD,
    )


def training_batch(step: int, batch: int) -> torch.Tensor:
    """(B, 3, 64, 64) model-space scenes of the training split (seeds step·B …)."""
    return shapes.normalise(shapes.to_tensor(shapes.render_scenes("train", step * batch, batch)))


def eval_views(count: int) -> list[torch.Tensor]:
    """`count` held-out test scenes, each (1, 3, 64, 64) in model space (as benchmarks/bench_mae_quality.py's views)."""
    x = shapes.normalise(shapes.to_tensor(shapes.render_scenes("test", EVAL_SEED, count)))  # (count, 3, 64, 64)
    return list(x.split(1))
