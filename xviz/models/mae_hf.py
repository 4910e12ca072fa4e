"""Hugging Face ViTMAE checkpoints (facebook/vit-mae-base etc.) → xviz MAE. Both key layouts are read:
transformers ≥ 5 (`vit.layers.i.attention.q_proj`, `mlp.fc1`) and the 4.x one on the hub
(`vit.encoder.layer.i.attention.attention.query`, `intermediate.dense`, `output.dense`; decoder layers under
`decoder.decoder_layers.i` on the hub, `decoder.decoder_encoder.layer.i` as transformers 5 saves them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from xviz.errors import ModelLoadError
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD
from xviz.models._checkpoint import load_converted, read_config, read_state_dict
from xviz.models._registry import register_architecture
from xviz.models.mae import MAE, MAEConfig

_LAYER = {  # HF sub-module (either layout) → xviz Block sub-module
    "attention.q_proj": "attn.q_proj",
    "attention.k_proj": "attn.k_proj",
    "attention.v_proj": "attn.v_proj",
    "attention.o_proj": "attn.out_proj",
    "attention.attention.query": "attn.q_proj",
    "attention.attention.key": "attn.k_proj",
    "attention.attention.value": "attn.v_proj",
    "attention.output.dense": "attn.out_proj",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}
_TOP = {
    "vit.embeddings.cls_token": "cls_token",
    "vit.embeddings.patch_embeddings.projection.weight": "patch_embed.weight",
    "vit.embeddings.patch_embeddings.projection.bias": "patch_embed.bias",
    "vit.layernorm.weight": "norm.weight",
    "vit.layernorm.bias": "norm.bias",
    "decoder.mask_token": "mask_token",
    "decoder.decoder_embed.weight": "decoder_embed.weight",
    "decoder.decoder_embed.bias": "decoder_embed.bias",
    "decoder.decoder_norm.weight": "decoder_norm.weight",
    "decoder.decoder_norm.bias": "decoder_norm.bias",
    "decoder.decoder_pred.weight": "decoder_pred.weight",
    "decoder.decoder_pred.bias": "decoder_pred.bias",
}
_BLOCK = re.compile(
    r"^(vit\.layers|vit\.encoder\.layer|decoder\.decoder_layers|decoder\.decoder_encoder\.layer)"
    r"\.(\d+)\.(.+)\.(weight|bias)$"
)
_TABLES = {"vit.embeddings.position_embeddings": "pos_embed", "decoder.decoder_pos_embed": "decoder_pos_embed"}


def config_from_hf(cfg: dict, folder: Path | None = None) -> MAEConfig:
    size = cfg.get("image_size", 224)
    size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    pre = folder / "preprocessor_config.json" if folder else None
    if pre is not None and pre.is_file():
        pc = json.loads(pre.read_text(encoding="utf-8"))
        mean, std = tuple(pc.get("image_mean", mean)), tuple(pc.get("image_std", std))
    try:
        return MAEConfig(
            image_size=size,
            patch_size=cfg["patch_size"],
            num_channels=cfg.get("num_channels", 3),
            hidden_size=cfg["hidden_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=cfg["num_attention_heads"],
            mlp_hidden=cfg["intermediate_size"],
            decoder_hidden_size=cfg["decoder_hidden_size"],
            decoder_layers=cfg["decoder_num_hidden_layers"],
            decoder_heads=cfg["decoder_num_attention_heads"],
            decoder_mlp_hidden=cfg["decoder_intermediate_size"],
            mask_ratio=cfg.get("mask_ratio", 0.75),
            norm_pix_loss=bool(cfg.get("norm_pix_loss", False)),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            act=cfg.get("hidden_act", "gelu"),
            qkv_bias=cfg.get("qkv_bias", True),
            image_mean=mean,
            image_std=std,
        )
    except KeyError as err:
        raise ModelLoadError(f"config.json lacks {err} needed for a ViTMAE model.") from None


def convert_hf_vit_mae(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """HF ViTMAEForPreTraining state dict → (xviz MAE state dict, the checkpoint's fixed position tables)."""
    out, tables = {}, {}
    for k, v in sd.items():
        if k in _TOP:
            out[_TOP[k]] = v
        elif k in _TABLES:
            tables[_TABLES[k]] = v
        elif (m := _BLOCK.match(k)) and m.group(3) in _LAYER:
            stack = "decoder_blocks" if m.group(1).startswith("decoder") else "blocks"
            out[f"{stack}.{m.group(2)}.{_LAYER[m.group(3)]}.{m.group(4)}"] = v
    return out, tables


def _check_tables(model: MAE, tables: dict[str, torch.Tensor], source: str) -> None:
    """The checkpoint's fixed tables should equal our sincos_2d; if a checkpoint differs, its table wins."""
    for name, table in tables.items():
        ours = getattr(model, name)
        if table.shape != ours.shape:
            raise ModelLoadError(f"{source}: {name} has shape {tuple(table.shape)}, expected {tuple(ours.shape)}.")
        if not torch.allclose(table.to(ours), ours, atol=1e-4):
            ours.copy_(table.to(ours))


@register_architecture("vit_mae")
def load_vit_mae_dir(folder: Path) -> MAE:
    raw = read_config(folder)
    if "decoder_hidden_size" not in raw:
        raise ModelLoadError(
            f"{folder} is a ViTMAE encoder without the decoder: reconstruction needs the "
            "pre-training checkpoint (ViTMAEForPreTraining, e.g. facebook/vit-mae-base)."
        )
    model = MAE(config_from_hf(raw, Path(folder)))
    sd, tables = convert_hf_vit_mae(read_state_dict(folder))
    if not any(k.startswith("decoder_") for k in sd):
        raise ModelLoadError(f"{folder} holds no decoder weights: use a ViTMAEForPreTraining checkpoint.")
    load_converted(model, sd, str(folder))
    with torch.no_grad():
        _check_tables(model, tables, str(folder))
    return model
