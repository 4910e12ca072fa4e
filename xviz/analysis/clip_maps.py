"""Where a caption looks on the image, and inside CLIP's text tower (ClipModel contract; the image tower's own
attention runs through image_run on `model.vision_tower`).

- patch similarity: each patch token through the image tower's pooling path alone (post-norm + projection), cosine
  with the caption's embedding;
- gradient × attention relevance (Chefer, Wolf & Gur 2021, Eq. 5–6): R = I, then per layer
  R ← R + mean_h((∇A ⊙ A)⁺)·R with ∇A = ∂ cos(image, caption) / ∂A, read at the pooled tokens (CLIP: CLS;
  SigLIP: its pooling probe's weights over the tokens). Gradients come from torch.autograd.grad on recorded tensors
  (`xviz.record(..., grads=True)`), never `.backward()` into the shared model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xviz.errors import InputError
from xviz.hooks import record


def patch_similarity(model, batch, caption: str) -> torch.Tensor:
    """(gh, gw): cosine between each patch's embedding and the caption's."""
    with torch.no_grad():
        patches = model.patch_embeddings(batch)[0]  # (gh·gw, E), unit length
        text = model.text_embeddings([caption])[0]  # (E,)
    gh, gw = batch.grid
    return (patches @ text).reshape(gh, gw)  # (gh·gw,) → (gh, gw)


def chefer_relevance(probs: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """Per layer A, ∇A (H, N, N) → R (N, N): R = I; R ← R + mean_h((∇A ⊙ A)⁺)·R (Chefer et al. 2021, Eq. 5–6)."""
    n = probs[0].shape[-1]
    R = torch.eye(n)
    for a, g in zip(probs, grads):
        abar = (g.float() * a.float()).clamp(min=0).mean(0)  # (N, N)
        R = R + abar @ R
    return R


def relevance_map(model, batch, caption: str) -> torch.Tensor:
    """(gh, gw): gradient × attention relevance of every patch for cos(image, caption), read at the pooled tokens."""
    tower = model.vision_tower
    with torch.no_grad():
        text = model.text_embeddings([caption])  # (1, E)
        pool = model.image_pooling(batch)[0].float()  # (N,)
    inputs = dict(batch)
    inputs["pixel_values"] = batch["pixel_values"].detach().clone().requires_grad_(True)
    names = "blocks.*.attn.hook_probs"
    with torch.enable_grad(), record(tower, names=names, grads=True) as rec:
        score = (model.image_embeddings(inputs) * text).sum()  # the cosine (both unit length)
        rec.backward(score)
    L = rec.num_layers("probs")
    if L == 0:
        raise InputError(f"{tower.name} records no attention: no relevance map.")
    probs = [rec["probs", i][0] for i in range(L)]  # (H, N, N) each
    grads = [rec[f"blocks.{i}.attn.hook_probs_grad"][0] for i in range(L)]
    R = chefer_relevance(probs, grads)  # (N, N)
    row = pool @ R  # (N,): the pooled output's relevance over the input tokens
    gh, gw = batch.grid
    return row[batch.num_prefix :].reshape(gh, gw)  # (gh·gw,) → (gh, gw)


@dataclass
class TextTowerRun:
    tokens: list[str]  # the text as the tokenizer cut it (special tokens and padding included)
    probs: torch.Tensor  # (L, H, N, N) attention of the text tower
    pool: int  # the position whose final state is the text embedding
    causal: bool  # every row attends only to earlier positions (CLIP's text tower)
    padded: int  # trailing padding positions (SigLIP pads to its full length)


def text_tower(model, text: str) -> TextTowerRun:
    """Record the text tower's attention on one text, and where it pools."""
    batch = model.prepare([text])
    names = f"{model.text_prefix}blocks.*.attn.hook_probs"
    with torch.no_grad(), record(model, names=names) as rec:
        model.text_embeddings(batch)
    keys = sorted((k for k in rec if k.endswith("hook_probs")), key=lambda k: int(k.split(".")[-3]))
    if not keys:
        raise InputError(f"{model.name} records no text-tower attention.")
    probs = torch.stack([rec[k][0] for k in keys]).float()  # L × (H, N, N) → (L, H, N, N)
    causal = bool(probs.triu(1).abs().max() == 0)
    padded = int((batch["attention_mask"][0] == 0).sum())
    return TextTowerRun(batch.tokens[0], probs, model.text_pool_index(batch)[0], causal, padded)
