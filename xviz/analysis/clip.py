"""What the CLIP page computes, through the ClipModel contract (pure torch, no streamlit): zero-shot probabilities
per prompt template and for the template ensemble, the images × captions contrastive matrix with CLIP's symmetric
cross-entropy or SigLIP's sigmoid loss. Where a caption looks and the towers' attention: clip_maps.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xviz.errors import InputError

MAX_LABELS = 64  # labels on the page (each is one text-tower row per template)
MAX_LABEL_CHARS = 300
TEMPLATES: dict[str, tuple[str, ...]] = {
    "the label alone": ("{}",),
    "a photo of a {}.": ("a photo of a {}.",),
    "a drawing of a {}.": ("a drawing of a {}.",),
    "an image of a {} shape.": ("an image of a {} shape.",),
    "ensemble (4 templates)": ("{}", "a photo of a {}.", "a drawing of a {}.", "an image of a {} shape."),
}


def parse_labels(text: str, limit: int = MAX_LABELS) -> list[str]:
    """One label per line (or comma-separated): stripped, empty ones dropped, duplicates kept once, in order."""
    if not isinstance(text, str):
        raise InputError("Labels must be text.")
    parts = [p.strip() for p in re.split(r"[\n,]", text)]
    labels = list(dict.fromkeys(p for p in parts if p))
    if not labels:
        raise InputError("No labels: type at least one (one per line, or separated by commas).")
    if len(labels) > limit:
        raise InputError(f"{len(labels):,} labels; the page takes up to {limit}. Keep the ones you want to compare.")
    long = [p for p in labels if len(p) > MAX_LABEL_CHARS]
    if long:
        raise InputError(f"A label has {len(long[0]):,} characters; labels are limited to {MAX_LABEL_CHARS}.")
    return labels


def parse_templates(text: str) -> tuple[str, ...]:
    """Custom templates, one per line, each with a {} where the label goes."""
    temps = tuple(dict.fromkeys(t.strip() for t in (text or "").splitlines() if t.strip()))
    if not temps:
        raise InputError("No template: type at least one, with {} where the label goes.")
    bad = [t for t in temps if t.count("{}") != 1]
    if bad:
        raise InputError("Every template needs exactly one {} (where the label goes).")
    return temps


def probabilities(model, logits: torch.Tensor) -> torch.Tensor:
    """CLIP: softmax over the labels (Radford et al. 2021); SigLIP: an independent sigmoid per pair (Zhai et al.)."""
    return torch.sigmoid(logits) if model.is_sigmoid else logits.softmax(-1)


@dataclass
class ZeroShot:
    labels: list[str]
    templates: tuple[str, ...]
    probs: torch.Tensor  # (n_labels,) with the template ensemble
    logits: torch.Tensor  # (n_labels,)
    per_template: torch.Tensor  # (T, n_labels): probabilities with each template alone
    truncated: bool  # a label + template was cut to the text tower's length


def zero_shot(model, image, labels: list[str], templates: tuple[str, ...]) -> ZeroShot:
    """One image, the labels, each template alone and their ensemble: the mean of a label's unit text embeddings
    over the templates, renormalised (Radford et al. 2021, §3.1.4). One text-tower pass for all label × template."""
    n, T = len(labels), len(templates)
    batch = model.prepare([t.replace("{}", lab) for lab in labels for t in templates])
    with torch.no_grad():
        img = model.image_embeddings(image)  # (1, E)
        emb = model.text_embeddings(batch).reshape(n, T, -1)  # (n·T, E) → (n, T, E)
        ens = emb.mean(1)
        ens = ens / ens.norm(dim=-1, keepdim=True)  # (n, E)
        logits = model.logits(img, ens)[0]  # (n,)
        per = torch.stack([probabilities(model, model.logits(img, emb[:, t]))[0] for t in range(T)])  # (T, n)
    return ZeroShot(labels, tuple(templates), probabilities(model, logits), logits, per, bool(batch.truncated))


@dataclass
class Contrast:
    cos: torch.Tensor  # (n, n) cosine of image i and caption j
    logits: torch.Tensor  # (n, n) exp(t)·cos (+ b)
    p_image_to_text: torch.Tensor  # CLIP: softmax over captions per image (rows); SigLIP: sigmoid per pair
    p_text_to_image: torch.Tensor  # CLIP: softmax over images per caption (columns)
    loss_rows: torch.Tensor  # (n,) per-image loss term
    loss_cols: torch.Tensor  # (n,) per-caption loss term (CLIP); SigLIP: per-caption share of the pair losses
    loss: float
    scale: float
    bias: float | None
    sigmoid: bool


def contrastive_loss(logits: torch.Tensor, sigmoid: bool) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CLIP (Radford et al. 2021, Fig. 3): mean of the image→text and text→image cross-entropies, the diagonal as
    targets. SigLIP (Zhai et al. 2023, Eq. 1): −Σ_j log σ(z_ij·logit_ij), z = +1 on the diagonal, −1 elsewhere,
    averaged over images (as HF's SiglipModel). → (row terms (n,), column terms (n,), loss)."""
    n = logits.shape[0]
    if sigmoid:
        z = 2 * torch.eye(n) - 1  # (n, n): +1 matched, −1 not
        pair = -F.logsigmoid(z * logits)  # (n, n)
        return pair.sum(1), pair.sum(0), float(pair.sum(1).mean())
    target = torch.arange(n)
    rows = F.cross_entropy(logits, target, reduction="none")  # image i → its caption
    cols = F.cross_entropy(logits.T, target, reduction="none")  # caption j → its image
    return rows, cols, float((rows.mean() + cols.mean()) / 2)


def contrast(model, images: list, captions: list[str]) -> Contrast:
    """n images × their n captions (caption i belongs to image i)."""
    if len(images) != len(captions):
        raise InputError(f"{len(images)} images but {len(captions)} captions: give one caption per image.")
    if len(images) < 2:
        raise InputError("The contrastive matrix needs at least two image–caption pairs.")
    with torch.no_grad():
        img, txt = model.image_embeddings(images), model.text_embeddings(captions)  # (n, E) each
        cos = img @ txt.T  # (n, n)
        logits = model.logits(img, txt)
    rows, cols, loss = contrastive_loss(logits, model.is_sigmoid)
    p_i2t = torch.sigmoid(logits) if model.is_sigmoid else logits.softmax(1)
    p_t2i = torch.sigmoid(logits) if model.is_sigmoid else logits.softmax(0)
    return Contrast(cos, logits, p_i2t, p_t2i, rows, cols, loss, model.logit_scale, model.logit_bias, model.is_sigmoid)
