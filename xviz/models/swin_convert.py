"""Swin helpers kept out of swin.py: HF state-dict conversion, seeded initialisation (images are prepared by
xviz.inputs.image_batch)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xviz.models._checkpoint import strip_prefix

# HF Swin block sub-module → xviz SwinBlock sub-module (legacy on-disk names and transformers ≥ 5 names).
_HF_BLOCK = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.self.query": "attn.q_proj",
    "attention.self.key": "attn.k_proj",
    "attention.self.value": "attn.v_proj",
    "attention.output.dense": "attn.out_proj",
    "attention.q_proj": "attn.q_proj",
    "attention.k_proj": "attn.k_proj",
    "attention.v_proj": "attn.v_proj",
    "attention.o_proj": "attn.out_proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_HF_TABLE = (
    "attention.self.relative_position_bias_table",
    "attention.relative_position_bias.relative_position_bias_table",
)
_HF_TOP = {
    "embeddings.patch_embeddings.projection": "patch_embed.proj",
    "embeddings.norm": "patch_embed.norm",
    "layernorm": "norm",
}


def convert_hf_swin(sd: dict[str, torch.Tensor], cfg) -> dict[str, torch.Tensor]:
    """HF SwinModel / SwinForImageClassification state dict → xviz Swin state dict (head dropped)."""
    sd = strip_prefix(sd, ("swin.", "model."))
    starts = np.cumsum((0,) + tuple(cfg.stage_layers)).tolist()  # first global block index of each stage
    out = {}
    for k, v in sd.items():
        if k == "embeddings.position_embeddings":
            out["pos_embed"] = v
            continue
        parts = k.split(".")
        head, leaf = ".".join(parts[:-1]), parts[-1]
        if head in _HF_TOP:
            out[f"{_HF_TOP[head]}.{leaf}"] = v
        elif parts[:2] == ["encoder", "layers"] and parts[3] == "downsample":
            out[f"merges.{parts[2]}.{'.'.join(parts[4:])}"] = v
        elif parts[:2] == ["encoder", "layers"] and parts[3] == "blocks":
            g = starts[int(parts[2])] + int(parts[4])
            sub = ".".join(parts[5:])
            if sub in _HF_TABLE:
                out[f"blocks.{g}.rel_bias.table"] = v
            elif ".".join(parts[5:-1]) in _HF_BLOCK:
                out[f"blocks.{g}.{_HF_BLOCK['.'.join(parts[5:-1])]}.{leaf}"] = v
    return out


@torch.no_grad()
def init_weights(model: nn.Module, seed: int = 0, std: float = 0.02) -> nn.Module:
    """Deterministic init from a private generator (no global RNG): Linear/Conv and bias tables ~ N(0, std²)
    truncated at ±2std (official Swin init), biases 0, LayerNorms 1/0."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias") or ".norm" in name or name.startswith("norm"):
            p.fill_(1.0 if (name.endswith("weight") and "norm" in name) else 0.0)
        else:
            p.copy_((torch.randn(p.shape, generator=g) * std).clamp(-2 * std, 2 * std))
    return model
