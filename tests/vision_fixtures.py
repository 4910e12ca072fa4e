"""Random-init Hugging Face vision folders for the image-page tests: every family from its transformers config
class's default config (the reference checkpoints' shapes: ViT-B/16, DeiT-B, BEiT-B, DINOv2, Swin-T, ViTMAE-B,
CLIP ViT-B/32, SigLIP-B/16), depth reduced unless asked, saved with save_pretrained."""

from __future__ import annotations

from pathlib import Path

# family → (config class, model class, HF image processor class (PIL backend), config overrides)
FAMILIES = {
    "vit": ("ViTConfig", "ViTModel", "ViTImageProcessorPil", {}),
    "deit": ("DeiTConfig", "DeiTModel", "DeiTImageProcessorPil", {}),
    "beit": ("BeitConfig", "BeitModel", "BeitImageProcessorPil", {"use_relative_position_bias": True}),
    "dinov2": ("Dinov2Config", "Dinov2Model", "BitImageProcessorPil", {}),
    "dinov2_with_registers": ("Dinov2WithRegistersConfig", "Dinov2WithRegistersModel", "BitImageProcessorPil", {}),
    "swin": ("SwinConfig", "SwinModel", "ViTImageProcessorPil", {}),
    "vit_mae": ("ViTMAEConfig", "ViTMAEModel", "ViTImageProcessorPil", {}),
    "clip_vision_model": ("CLIPVisionConfig", "CLIPVisionModel", "CLIPImageProcessorPil", {}),
    "siglip_vision_model": ("SiglipVisionConfig", "SiglipVisionModel", "SiglipImageProcessorPil", {}),
    "clip": ("CLIPConfig", "CLIPModel", "CLIPImageProcessorPil", {}),
    "siglip": ("SiglipConfig", "SiglipModel", "SiglipImageProcessorPil", {}),
}
OWN = ("vit", "deit", "dinov2", "dinov2_with_registers", "swin")  # also load into xviz's own models


def config(family: str, layers: int | None = 2):
    """The default config of the family's class, `layers` blocks per stack (Swin: per stage); None = full depth."""
    import transformers as T

    cfg_cls, _, _, extra = FAMILIES[family]
    if layers is None:
        depth = {}
    elif family == "swin":
        depth = {"depths": [layers] * 4}
    else:
        depth = {"num_hidden_layers": layers}
    if family in ("clip", "siglip"):
        return getattr(T, cfg_cls)(text_config=dict(depth), vision_config=dict(depth))
    return getattr(T, cfg_cls)(**depth, **extra)


def save_family(family: str, folder: Path, layers: int | None = 2, seed: int = 0) -> Path:
    """A random-init model of the family saved in `folder` (weights nudged off HF's zero-init biases/tables)."""
    import torch
    import transformers as T

    torch.manual_seed(seed)
    model = getattr(T, FAMILIES[family][1])(config(family, layers)).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # zero-initialised tables / biases (BEiT's relative bias, ViTMAE's) would test nothing
        for name, p in model.named_parameters():
            if p.abs().max() == 0 and "logit" not in name:
                p.normal_(0, 0.02, generator=g)
    model.save_pretrained(folder)
    return Path(folder)


def processor(family: str, **kw):
    """The HF image processor of the family (PIL backend: the one that runs without torchvision)."""
    import transformers as T

    return getattr(T, FAMILIES[family][2])(**kw)
