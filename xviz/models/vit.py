"""Vision Transformer (pre-LN) with xviz hook points: classic ViT / DeiT and DINOv2 (layer-scale, registers).

Tokens: [CLS, (distillation), (registers), patches row-major]. Position embeddings cover CLS (+ distillation)
and the patch grid; registers get none (DINOv2-with-registers, Darcet et al. 2023). At another input size the
patch table is resized bicubically in 2-D (as HF / DINOv2 do). HF-format folders of model_type vit, deit,
dinov2 and dinov2_with_registers load through `xviz.load_model(folder)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from xviz.errors import ModelLoadError
from xviz.hooks import HookPoint
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD, ImageBatch, input_side, prepare_image
from xviz.layers.block import Block, HookedLayerNorm
from xviz.models._checkpoint import load_converted, read_config, read_state_dict, strip_prefix
from xviz.models._registry import register_architecture
from xviz.models.contract import ContractMixin


@dataclass(frozen=True)
class ViTConfig:
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    mlp_hidden: int = 3072
    patch_size: int = 16
    image_size: int = 224  # training resolution: the position table is (image_size / patch_size)²
    num_channels: int = 3
    layer_norm_eps: float = 1e-12
    act: str = "gelu"
    qkv_bias: bool = True
    layer_scale: float | None = None  # DINOv2: per-channel scale on each residual branch
    num_registers: int = 0  # DINOv2-with-registers
    distillation_token: bool = False  # DeiT (distilled)
    pos_antialias: bool = False  # HF dinov2_with_registers resizes the table with antialias=True
    # preprocessing (the model's own): mode "crop" | "pad" | "stretch" | "native", see xviz.inputs.image_batch
    input_size: int = 224
    resize_mode: str = "crop"
    crop_ratio: float = 224 / 256  # "crop": resize the short side to input_size / crop_ratio, then center-crop
    image_mean: tuple = IMAGENET_MEAN
    image_std: tuple = IMAGENET_STD

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_pos_prefix(self) -> int:  # prefix tokens that carry a position embedding
        return 1 + int(self.distillation_token)

    @property
    def num_prefix(self) -> int:
        return self.num_pos_prefix + self.num_registers

    @property
    def prefix_labels(self) -> list[str]:
        return ["CLS"] + ["DIST"] * self.distillation_token + [f"reg{i}" for i in range(self.num_registers)]


@dataclass
class ViTOutput:
    last_hidden_state: torch.Tensor  # (B, N, C) after the final LayerNorm
    pooled: torch.Tensor  # (B, C) the CLS token


def resize_pos_table(table: torch.Tensor, grid: int, gh: int, gw: int, antialias: bool = False) -> torch.Tensor:
    """(1, grid², C) patch position table → (1, gh·gw, C) by 2-D bicubic interpolation (ViT §3.2, DINOv2)."""
    if (gh, gw) == (grid, grid):
        return table
    C = table.shape[-1]
    t = table.reshape(1, grid, grid, C).permute(0, 3, 1, 2).float()  # (1, C, grid, grid)
    t = F.interpolate(t, size=(gh, gw), mode="bicubic", align_corners=False, antialias=antialias)
    return t.permute(0, 2, 3, 1).reshape(1, gh * gw, C).to(table.dtype)  # (1, gh·gw, C)


class ViT(ContractMixin, nn.Module):
    kind = "image"

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.hidden_size
        self.patch_embed = nn.Conv2d(cfg.num_channels, C, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, C)) if cfg.distillation_token else None
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_registers, C)) if cfg.num_registers else None
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_pos_prefix + cfg.grid**2, C))
        self.hook_embed = HookPoint()
        self.blocks = nn.ModuleList(
            Block(
                C,
                cfg.num_heads,
                mlp_hidden=cfg.mlp_hidden,
                norm_position="pre",
                eps=cfg.layer_norm_eps,
                act=cfg.act,
                qkv_bias=cfg.qkv_bias,
                layer_scale=cfg.layer_scale,
            )
            for _ in range(cfg.num_layers)
        )
        self.norm = HookedLayerNorm(C, cfg.layer_norm_eps)

    @property
    def device(self) -> torch.device:
        return self.cls_token.device

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        x = self.patch_embed(pixel_values.to(self.patch_embed.weight.dtype))  # (B, C, gh, gw)
        B, _, gh, gw = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, gh·gw, C), row-major patches
        prefix = [self.cls_token.expand(B, -1, -1)]
        if self.dist_token is not None:
            prefix.append(self.dist_token.expand(B, -1, -1))
        x = torch.cat(prefix + [x], dim=1)  # (B, P + gh·gw, C)
        P = cfg.num_pos_prefix
        pos = self.pos_embed
        pos = torch.cat([pos[:, :P], resize_pos_table(pos[:, P:], cfg.grid, gh, gw, cfg.pos_antialias)], dim=1)
        x = x + pos
        if self.register_tokens is not None:  # after the position embedding: registers have none
            x = torch.cat([x[:, :P], self.register_tokens.expand(B, -1, -1), x[:, P:]], dim=1)
        return x

    def forward(self, pixel_values: torch.Tensor) -> ViTOutput:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.cfg.num_channels:
            raise ValueError(
                f"pixel_values must be (B, {self.cfg.num_channels}, H, W), got {tuple(pixel_values.shape)}"
            )
        x = self.hook_embed(self.embed(pixel_values))  # (B, N, C)
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return ViTOutput(x, x[:, 0])

    def prepare(self, image, size: int | None = None, mode: str | None = None) -> ImageBatch:
        """PIL image → ImageBatch (model(**batch)) with the model's own resize / crop / normalisation."""
        cfg = self.cfg
        return prepare_image(
            image,
            input_side(size or cfg.input_size, cfg.patch_size),
            mode or cfg.resize_mode,
            cfg.image_mean,
            cfg.image_std,
            patch=cfg.patch_size,
            prefix=cfg.prefix_labels,
            crop_ratio=cfg.crop_ratio,
            channels=cfg.num_channels,
            device=self.device,
        )


# ---- Hugging Face ViT / DeiT / DINOv2 folders ------------------------------------------------------------------
_HF_BLOCK = {
    "attention.attention.query": "attn.q_proj",
    "attention.attention.key": "attn.k_proj",
    "attention.attention.value": "attn.v_proj",
    "attention.output.dense": "attn.out_proj",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",  # ViT / DeiT
    "norm1": "norm1",
    "norm2": "norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",  # DINOv2
    "layer_scale1": "ls1",
    "layer_scale2": "ls2",
    "attention.q_proj": "attn.q_proj",
    "attention.k_proj": "attn.k_proj",  # transformers ≥ 5 in-memory
    "attention.v_proj": "attn.v_proj",
    "attention.o_proj": "attn.out_proj",  # names (state_dict() dumps)
}
_HF_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.distillation_token": "dist_token",
    "embeddings.register_tokens": "register_tokens",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}


def convert_hf_vit(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF ViTModel / DeiTModel / Dinov2Model state dict → ViT state dict (pooler, heads, mask token dropped)."""
    sd = strip_prefix(sd, ("vit.", "deit.", "dinov2.", "dinov2_with_registers.", "backbone.", "model."))
    out = {}
    for k, v in sd.items():
        if k in _HF_TOP:
            out[_HF_TOP[k]] = v
            continue
        parts = k.split(".")
        if parts[0] == "layers":  # transformers ≥ 5: "layers.{i}..." instead of "encoder.layer.{i}..."
            parts = ["encoder", "layer"] + parts[1:]
        if parts[:2] == ["encoder", "layer"]:
            sub, leaf = ".".join(parts[3:-1]), parts[-1]
            if sub in _HF_BLOCK:
                leaf = "gamma" if leaf == "lambda1" else leaf
                out[f"blocks.{parts[2]}.{_HF_BLOCK[sub]}.{leaf}"] = v
    return out


def config_from_hf(cfg: dict, folder: Path | None = None) -> ViTConfig:
    mtype = cfg.get("model_type")
    if cfg.get("use_swiglu_ffn"):
        raise ModelLoadError("DINOv2 checkpoints with a SwiGLU MLP (giant) are not supported.")
    image_size, patch = _int(cfg.get("image_size", 224)), _int(cfg.get("patch_size", 16))
    hidden = cfg["hidden_size"]
    dino = mtype in ("dinov2", "dinov2_with_registers")
    kw = dict(
        hidden_size=hidden,
        num_layers=cfg["num_hidden_layers"],
        num_heads=cfg["num_attention_heads"],
        mlp_hidden=int(hidden * cfg.get("mlp_ratio", 4)) if dino else cfg["intermediate_size"],
        patch_size=patch,
        image_size=image_size,
        num_channels=cfg.get("num_channels", 3),
        layer_norm_eps=cfg.get("layer_norm_eps", 1e-6 if dino else 1e-12),
        act=cfg.get("hidden_act", "gelu"),
        qkv_bias=cfg.get("qkv_bias", True),
        layer_scale=cfg.get("layerscale_value", 1.0) if dino else None,
        num_registers=cfg.get("num_register_tokens", 0) if mtype == "dinov2_with_registers" else 0,
        distillation_token=mtype == "deit",
        pos_antialias=mtype == "dinov2_with_registers",
    )
    kw.update(_preprocessing(folder, dino, min(image_size, 224) if dino else image_size))
    return ViTConfig(**kw)


def _int(v) -> int:
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def _preprocessing(folder: Path | None, dino: bool, default_size: int) -> dict:
    """From preprocessor_config.json when present, else the family's defaults (DINOv2: 256 → crop 224)."""
    half = (0.5, 0.5, 0.5)
    out = dict(
        input_size=default_size,
        resize_mode="crop" if dino else "stretch",
        image_mean=IMAGENET_MEAN if dino else half,
        image_std=IMAGENET_STD if dino else half,
    )
    path = Path(folder) / "preprocessor_config.json" if folder else None
    if path is None or not path.is_file():
        return out
    try:
        pc = json.loads(path.read_text(encoding="utf-8"))
        if "image_mean" in pc and "image_std" in pc:
            out.update(image_mean=tuple(pc["image_mean"]), image_std=tuple(pc["image_std"]))
        crop = pc.get("crop_size")
        if pc.get("do_center_crop") and isinstance(crop, dict) and "height" in crop:
            short = pc.get("size", {}).get("shortest_edge", crop["height"])
            out.update(resize_mode="crop", input_size=int(crop["height"]), crop_ratio=crop["height"] / short)
        elif isinstance(pc.get("size"), dict) and "height" in pc["size"]:
            out.update(resize_mode="stretch", input_size=int(pc["size"]["height"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        pass  # a malformed preprocessor config falls back to the defaults
    return out


@register_architecture("vit", "deit", "dinov2", "dinov2_with_registers")
def load_vit_dir(folder: Path) -> ViT:
    cfg = config_from_hf(read_config(folder), Path(folder))
    return load_converted(ViT(cfg), convert_hf_vit(read_state_dict(folder)), str(folder))
