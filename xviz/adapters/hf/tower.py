"""A CLIP / SigLIP model's image tower as an image model of its own (kind "image"): the same modules and hook
points as the full model's `vision.blocks.*`, named `blocks.*` when recorded through the tower, so every image
analysis (the Attention page's maps, rollout, distances) runs on it unchanged. Nothing is copied."""

from __future__ import annotations

import weakref

import torch
from torch import nn

from xviz.adapters.hf.image import ImagePrepMixin
from xviz.errors import InputError
from xviz.hooks import hook_names
from xviz.inputs.image_batch import ImageBatch


class VisionTower(ImagePrepMixin, nn.Module):
    """The image tower of `clip` (an HFModel of kind "clip"); its contract values are the vision config's."""

    kind = "image"
    backend = "hf"
    is_causal = False
    has_lens = False
    reload_to_copy = True  # a copy is the whole CLIP model, reloaded by name
    eos_token_id = None
    bos_token_id = None

    def __init__(self, clip: nn.Module, blocks: nn.ModuleList):
        super().__init__()
        self.vision_model = clip.hf_model.vision_model
        self.blocks = blocks  # the full model's vision.blocks: the same hook points
        self._clip = weakref.ref(clip)  # not a submodule: the tower lives inside the full model
        self._cfg = clip.hf_model.config.vision_config
        self.model_type = self._cfg.model_type
        self.image_prep, self.vision_spec = clip.image_prep, clip.vision_spec

    @property
    def name(self) -> str:
        clip = self._clip()
        return f"{clip.name if clip is not None else 'CLIP'} (image tower)"

    @property
    def note(self) -> str | None:
        clip = self._clip()
        return clip.note if clip is not None else None

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    @property
    def num_heads(self) -> int:
        return int(self._cfg.num_attention_heads)

    @property
    def num_kv_heads(self) -> int:
        return self.num_heads

    @property
    def hidden_size(self) -> int:
        return int(self._cfg.hidden_size)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def max_positions(self) -> None:
        return None

    @property
    def device(self) -> torch.device:
        return next(self.vision_model.parameters()).device

    @property
    def is_dispatched(self) -> bool:
        clip = self._clip()
        return bool(clip is not None and clip.is_dispatched)

    def prepare(self, inputs, size: int | None = None, mode: str | None = None) -> ImageBatch:
        return self.prepare_image(inputs, size=size, mode=mode)

    def decode(self, ids) -> list[str]:
        return []

    def hook_names(self) -> list[str]:
        return hook_names(self)

    def lens(self, resid: torch.Tensor) -> torch.Tensor:
        raise InputError(f"{self.name} is an image tower: it has no logit lens.")

    def full_attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        return mask[None, None].to(self.device)

    def forward(self, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False, **_):
        """The HF vision transformer: last_hidden_state (B, N, C), pooler_output (B, C) before the projection."""
        return self.vision_model(pixel_values=pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
