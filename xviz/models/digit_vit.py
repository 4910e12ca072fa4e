"""The small digits ViT (xviz's own ViT and Block, one grey channel, a linear head on CLS), the builder of all
four digit models, their weight files and registry names (vit-digits, mixer-digits, fnet-digits, cnn-digits)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from xviz.data.digits import MEAN, SIZE, STD, to_pil
from xviz.hooks import HookPoint
from xviz.inputs.image_batch import ImageBatch, denormalise
from xviz.models._checkpoint import load_with_config
from xviz.models.mixers import DigitCNN, DigitConfig, DigitModel, DigitOutput, TokenMixerNet
from xviz.models.vit import ViT, ViTConfig


def vit_config(cfg: DigitConfig) -> ViTConfig:
    return ViTConfig(
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        mlp_hidden=cfg.mlp_hidden,
        patch_size=cfg.patch_size,
        image_size=cfg.image_size,
        num_channels=1,
        layer_norm_eps=1e-6,
        input_size=cfg.image_size,
        resize_mode="stretch",
        image_mean=MEAN,
        image_std=STD,
    )


class DigitViT(DigitModel, ViT):
    """ViT over 4 × 4-px patches of a 16 × 16 digit: [CLS] + 16 tokens, pre-LN blocks, head on CLS. Hook names
    are the ViT's (blocks.{i}.attn.hook_probs …) plus hook_logits."""

    kind = "image"

    def __init__(self, cfg: DigitConfig):
        ViT.__init__(self, vit_config(cfg))
        self.digit_cfg = cfg
        self.head = nn.Linear(cfg.hidden_size, cfg.num_classes)
        self.hook_logits = HookPoint()

    @property
    def device(self) -> torch.device:
        return self.cls_token.device

    def forward(self, pixel_values: torch.Tensor) -> DigitOutput:
        out = ViT.forward(self, pixel_values)
        return DigitOutput(self.hook_logits(self.head(out.pooled)))  # CLS after the final LN -> (B, 10)

    def prepare(self, image, size=None, mode=None) -> ImageBatch:
        """PIL image / (1, 1, 16, 16) tensor → ImageBatch (what the Attention page draws on); always 16 × 16."""
        pv = DigitModel.prepare(self, image)["pixel_values"]  # (1, 1, 16, 16) normalised
        shown = to_pil(denormalise(pv.cpu(), self.cfg.image_mean, self.cfg.image_std))
        return ImageBatch.build(pv, shown, self.cfg.patch_size, "stretch", ["CLS"], (0, 0, SIZE, SIZE))


def build(cfg: DigitConfig) -> nn.Module:
    if cfg.arch == "vit":
        return DigitViT(cfg)
    if cfg.arch == "cnn":
        return DigitCNN(cfg)
    return TokenMixerNet(cfg)


def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Truncated-normal(0.02) linear / patch / position weights, zero biases (ViT / Mixer recipe); the CNN's
    convolutions get He-normal std √(2 / fan_in) (He et al. 2015). Seeded, no global RNG."""
    for name, p in model.named_parameters():
        if name.startswith("convs.") and p.ndim == 4:
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=generator) * (2.0 / p[0].numel()) ** 0.5)
        elif p.ndim >= 2 or name.endswith(("pos", "pos_embed", "cls_token")):
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=generator).clamp(-2, 2) * 0.02)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    return model


def load_digit_model(path: Path) -> nn.Module:
    """A shipped digits model; its file's metadata carries the config and the held-out accuracy."""
    model, meta = load_with_config(path, "digits", lambda cfg: build(DigitConfig.from_json(cfg)))
    model.train_meta = {k: _maybe_json(v) for k, v in meta.items() if k != "config"}
    return model.eval()


def _maybe_json(v: str):
    try:
        return json.loads(v)
    except ValueError:
        return v


__all__ = ["DigitViT", "build", "init_weights", "load_digit_model"]
