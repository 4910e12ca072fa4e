"""CLIP and SigLIP through the adapter (kind "clip"): both towers' embeddings in the shared space, the learned
temperature, image–text similarity and zero-shot classification, per-patch embeddings and pooling weights.

CLIP (Radford et al. 2021): logits = exp(t)·cos(image, text), softmax over the texts (zero-shot) and the symmetric
cross-entropy in training. SigLIP (Zhai et al. 2023): logits = exp(t)·cos + b, one sigmoid per pair.
`similarity` equals HF's `logits_per_image` on the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from xviz.adapters.hf.model import HFModel, is_image_input
from xviz.adapters.hf.tower import VisionTower
from xviz.errors import InputError
from xviz.inputs.batch import Batch
from xviz.inputs.text import clean_text

MAX_TEXTS = 512  # texts per call (labels × templates): each is one text-tower row
MAX_IMAGES = 64


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(p=2, dim=-1, keepdim=True)  # as HF's CLIPModel.forward (no eps)


class HFClipModel(HFModel):
    """An HF CLIPModel / SiglipModel with the ClipModel contract (xviz.models.contract)."""

    text_prefix, vision_prefix = "text.", "vision."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.__dict__["_tower"] = VisionTower(self, self.vision.blocks)  # not a submodule: no second name

    # -- the contract's CLIP members ----------------------------------------------------------------------
    @property
    def vision_tower(self) -> VisionTower:
        return self.__dict__["_tower"]

    @property
    def is_sigmoid(self) -> bool:
        return self.model_type == "siglip"

    @property
    def logit_scale(self) -> float:
        """exp(t): the learned inverse temperature 1/τ multiplying the cosines."""
        return float(self.hf_model.logit_scale.detach().exp())

    @property
    def logit_bias(self) -> float | None:
        bias = getattr(self.hf_model, "logit_bias", None)
        return float(bias.detach()) if bias is not None and self.is_sigmoid else None

    @property
    def has_tokenizer(self) -> bool:
        return self.tokenizer is not None

    @property
    def text_max_tokens(self) -> int:
        return int(self.hf_model.config.text_config.max_position_embeddings)

    # -- text ------------------------------------------------------------------------------------------------
    def prepare_text(self, text, max_length: int | None = None, **_) -> Batch:
        """Texts → Batch, tokenised as the model was trained: truncated by the tokenizer (its end token kept),
        SigLIP padded to max_length (it pools the last position)."""
        items = list(text) if isinstance(text, (list, tuple)) else [text]
        if not items:
            raise InputError("No text given: type at least one label or caption.")
        if len(items) > MAX_TEXTS:
            raise InputError(f"{len(items):,} texts in one call; the limit is {MAX_TEXTS}.")
        tok, limit = self._tok(), min(max_length or self.text_max_tokens, self.text_max_tokens)
        items = [clean_text(t) for t in items]
        full = [len(ids) for ids in tok(items)["input_ids"]]
        ids = tok(items, truncation=True, max_length=limit)["input_ids"]
        if not all(ids):
            raise InputError("A text gives no tokens.")
        batch = self._pad(ids, "right", limit if self.is_sigmoid else 0)
        batch.truncated = any(n > limit for n in full)
        batch.texts = items
        return batch

    def text_pool_index(self, batch: Batch) -> list[int]:
        """The position whose final state becomes the text embedding: CLIP's end token (the highest id when the
        config's eos_token_id is the legacy 2, else its first end token); SigLIP's last position."""
        ids = batch["input_ids"]
        if self.is_sigmoid:
            return [ids.shape[1] - 1] * ids.shape[0]
        eos = self.hf_model.config.text_config.eos_token_id
        pos = ids.argmax(-1) if eos == 2 else (ids == eos).int().argmax(-1)
        return [int(p) for p in pos]

    def _text_batch(self, texts) -> Batch:
        return texts if isinstance(texts, Batch) else self.prepare_text(texts)

    def text_embeddings(self, texts, normalize: bool = True) -> torch.Tensor:
        """Texts (or a prepared Batch) → (n, E) in the shared space, unit length unless normalize=False."""
        b = self._text_batch(texts)
        out = self.hf_model.get_text_features(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
        return _unit(out.pooler_output) if normalize else out.pooler_output

    # -- images ----------------------------------------------------------------------------------------------
    def pixel_batch(self, images) -> dict:
        """A PIL image / LoadedImage, a list of them, an ImageBatch (or any mapping with pixel_values) or a
        (B, C, H, W) tensor → the vision tower's inputs."""
        if isinstance(images, torch.Tensor):
            return {"pixel_values": images.to(self.device)}
        if isinstance(images, Mapping) and "pixel_values" in images:  # an ImageBatch, or its inputs
            return {k: v for k, v in images.items() if k in ("pixel_values", "interpolate_pos_encoding")}
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        if not items or not all(is_image_input(im) for im in items):
            raise InputError("Give one image or a list of images (PIL images).")
        if len(items) > MAX_IMAGES:
            raise InputError(f"{len(items)} images in one call; the limit is {MAX_IMAGES}.")
        batches = [self.prepare_image(im) for im in items]
        shapes = {tuple(b["pixel_values"].shape) for b in batches}
        if len(shapes) > 1:
            raise InputError("These images come out at different sizes (no centre crop): pass them one at a time.")
        out = {"pixel_values": torch.cat([b["pixel_values"] for b in batches])}  # (n, C, H, W)
        if any("interpolate_pos_encoding" in b for b in batches):
            out["interpolate_pos_encoding"] = True
        return out

    def _vision(self, images):
        return self.hf_model.get_image_features(**self.pixel_batch(images))

    def image_embeddings(self, images, normalize: bool = True) -> torch.Tensor:
        """Images → (n, E) in the shared space (the pooled token through the projection / attention-pool head)."""
        emb = self._vision(images).pooler_output
        return _unit(emb) if normalize else emb

    def patch_embeddings(self, images, normalize: bool = True) -> torch.Tensor:
        """Every patch token through the pooling path alone → (n, gh·gw, E): CLIP: post-norm + visual projection;
        SigLIP: its attention-pool head as if it attended to that one patch (the value path, norm and MLP)."""
        hidden = self._vision(images).last_hidden_state  # (n, N, C)
        patches = hidden[:, len(self.vision_spec.prefix) :]  # (n, gh·gw, C)
        if self.is_sigmoid:  # SigLIP's last_hidden_state is already post-normed
            emb = _single_key_head(self.hf_model.vision_model.head, patches)
        else:
            vm = self.hf_model.vision_model
            emb = self.hf_model.visual_projection(vm.post_layernorm(patches))
        return _unit(emb) if normalize else emb

    def image_pooling(self, images) -> torch.Tensor:
        """(n, N): how the image embedding pools the last layer's tokens: CLIP one-hot at CLS; SigLIP the attention
        weights of its pooling probe (mean over heads)."""
        hidden = self._vision(images).last_hidden_state  # (n, N, C)
        n, N = hidden.shape[:2]
        if not self.is_sigmoid:
            return torch.nn.functional.one_hot(torch.zeros(n, dtype=torch.long), N).float()
        head = self.hf_model.vision_model.head
        probe = head.probe.expand(n, -1, -1)  # (n, 1, C)
        _, w = head.attention(probe, hidden, hidden, need_weights=True, average_attn_weights=True)  # (n, 1, N)
        return w[:, 0]

    # -- both --------------------------------------------------------------------------------------------------
    def logits(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """Unit embeddings (n, E), (m, E) → (n, m): exp(t)·cos (+ b for SigLIP), HF's logits_per_image."""
        scale = self.hf_model.logit_scale.exp()
        out = image_emb @ text_emb.T * scale  # (n, m)
        return out + self.hf_model.logit_bias if self.is_sigmoid else out

    def similarity(self, images, texts) -> torch.Tensor:
        """(n_images, n_texts) logits, equal to HF's `logits_per_image` on the same inputs."""
        with torch.no_grad():
            return self.logits(self.image_embeddings(images), self.text_embeddings(texts))

    def label_embeddings(self, labels: list[str], templates: list[str] | None = None) -> torch.Tensor:
        """(n_labels, E): each label through every template ("a photo of a {}."), unit embeddings averaged and
        renormalised — the prompt ensemble of Radford et al. 2021, §3.1.4."""
        labels = [clean_text(x).strip() for x in labels] if labels else []
        if not labels:
            raise InputError("No labels given: type at least one.")
        temps = templates or ["{}"]
        if any("{}" not in t for t in temps):
            raise InputError("Every template needs a {} where the label goes.")
        if len(labels) * len(temps) > MAX_TEXTS:
            raise InputError(f"{len(labels)} labels × {len(temps)} templates pass the limit of {MAX_TEXTS} texts.")
        texts = [t.replace("{}", lab) for lab in labels for t in temps]
        emb = self.text_embeddings(texts).reshape(len(labels), len(temps), -1)  # (n·T, E) → (n, T, E)
        return _unit(emb.mean(1))

    def zero_shot(self, images, labels: list[str], templates: list[str] | None = None) -> torch.Tensor:
        """(n_images, n_labels) probabilities: CLIP a softmax over the labels, SigLIP a sigmoid per label."""
        with torch.no_grad():
            z = self.logits(self.image_embeddings(images), self.label_embeddings(labels, templates))
        return torch.sigmoid(z) if self.is_sigmoid else z.softmax(-1)


def _single_key_head(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """SigLIP's attention-pool head on one token: softmax over a single key is 1, so the attention output is the
    value projection of that token through out_proj; then the head's residual norm + MLP. (n, P, C) → (n, P, E)."""
    mha = head.attention
    C = x.shape[-1]
    v = nn.functional.linear(x, mha.in_proj_weight[2 * C :], mha.in_proj_bias[2 * C :])  # (n, P, C)
    h = mha.out_proj(v)
    return h + head.mlp(head.layernorm(h))
