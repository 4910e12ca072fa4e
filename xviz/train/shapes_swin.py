"""`swin-shapes`: a small Hugging Face `SwinForImageClassification` trained on the shapes world to say which colour ×
shape objects a scene holds (18 labels, multi-label: one sigmoid each), and its held-out accuracy. xviz's own Swin
(`xviz.models.swin`) reads the saved folder (its classifier head dropped), so the Swin page shows trained windows
and biases."""

from __future__ import annotations

import torch

from xviz.data import shapes

EVAL_SEED = 200_000  # held-out scenes: test-split seeds from here
EVAL_SCENES = 2000


def swin_config(width: int = 64, depths=(2, 2), heads=(2, 4), window: int = 4, patch: int = 4):
    """Patch 4 on 64 px: a 16 × 16 map of 4 × 4 windows (shifted by 2 in every other block), merged to 8 × 8 (four
    windows) for stage 2 (Liu et al. 2021)."""
    from transformers import SwinConfig  # noqa: PLC0415  (transformers takes seconds to import; only training and tests need it)

    names = shapes.label_names()
    return SwinConfig(
        image_size=shapes.IMAGE_SIZE,
        patch_size=patch,
        embed_dim=width,
        depths=list(depths),
        num_heads=list(heads),
        window_size=window,
        drop_path_rate=0.0,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
        problem_type="multi_label_classification",
    )


def image_processor():
    """HF's processor for Swin folders (ViTImageProcessor): a 64-px scene passes unchanged, [0, 1], MEAN/STD."""
    from transformers import ViTImageProcessor  # noqa: PLC0415  (transformers takes seconds to import; only training and tests need it)

    n = shapes.IMAGE_SIZE
    return ViTImageProcessor(
        size={"height": n, "width": n}, image_mean=list(shapes.MEAN), image_std=list(shapes.STD), resample=3
    )


def targets(scenes: list[shapes.Scene]) -> torch.Tensor:
    """(B, 18) float: 1 where the scene holds an object of that colour × shape (class colour · 3 + shape)."""
    y = torch.zeros(len(scenes), len(shapes.COLOURS) * len(shapes.SHAPES))
    for i, s in enumerate(scenes):
        for o in s.objects:
            y[i, shapes.class_index(o.colour, o.shape)] = 1.0
    return y


def batch(split: str, start: int, count: int, n_objects: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Scenes of every colour × shape (nothing held out: the classifier must know all 18) → (pixels, targets)."""
    scenes = shapes.render_scenes(split, start, count, exclude=frozenset(), n_objects=n_objects)
    return shapes.normalise(shapes.to_tensor(scenes)), targets(scenes)


def _by_attribute(y: torch.Tensor, axis: int) -> torch.Tensor:
    """(B, 18) label sets → (B, 6) colours present (axis 2) or (B, 3) shapes present (axis 1)."""
    return y.view(len(y), len(shapes.COLOURS), len(shapes.SHAPES)).amax(axis)  # (B, 18) -> (B, 6, 3) -> (B, 6 | 3)


@torch.no_grad()
def evaluate(model, count: int = EVAL_SCENES, chunk: int = 250) -> dict:
    """On `count` held-out test scenes, with labels predicted where the sigmoid passes 0.5: `accuracy` = the
    predicted set of colour × shape objects is exactly the scene's; `colour` / `shape` = the set of colours /
    shapes present is exactly right; `label` = per-label accuracy over all 18."""
    hits = {"accuracy": 0, "colour": 0, "shape": 0, "label": 0.0}
    for start in range(EVAL_SEED, EVAL_SEED + count, chunk):
        x, y = batch("test", start, min(chunk, EVAL_SEED + count - start))
        pred = (model(pixel_values=x).logits > 0).float()  # σ(z) > 0.5
        hits["accuracy"] += int((pred == y).all(1).sum())
        hits["colour"] += int((_by_attribute(pred, 2) == _by_attribute(y, 2)).all(1).sum())
        hits["shape"] += int((_by_attribute(pred, 1) == _by_attribute(y, 1)).all(1).sum())
        hits["label"] += float((pred == y).float().mean(1).sum())
    return {k: v / count for k, v in hits.items()}
