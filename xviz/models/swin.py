"""Swin Transformer (Liu et al. 2021) with xviz hook points; reads HF-format Swin folders.

Blocks are numbered globally in `blocks` (stage after stage) so hook names are the standard ones:
`blocks.{i}.attn.hook_probs` is (B·nW, H, M², M²), one attention matrix per window. Even blocks of a stage use
W-MSA, odd ones SW-MSA (shift ⌊M/2⌋). Patch merging layers live in `merges` (one between stages).
Registry name `swin-tiny`: the Swin-T shape with random weights (structure only, untrained).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from xviz.errors import InputError, ModelLoadError
from xviz.hooks import HookPoint
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD, ImageBatch, prepare_image
from xviz.layers.attention import Attention
from xviz.layers.block import MLP, HookedLayerNorm
from xviz.layers.windows import (
    cyclic_shift,
    cyclic_unshift,
    padded_size,
    relative_position_bias,
    relative_position_index,
    shifted_window_mask,
    window_config,
    window_partition,
    window_reverse,
)
from xviz.models._checkpoint import load_converted, read_config, read_state_dict
from xviz.models._registry import register_architecture
from xviz.models.contract import ContractMixin
from xviz.models.swin_convert import convert_hf_swin


@dataclass(frozen=True)
class SwinConfig:
    image_size: int = 224
    patch_size: int = 4
    num_channels: int = 3
    hidden_size: int = 96  # stage 1's width; stage s is 2^s times wider
    stage_layers: tuple[int, ...] = (2, 2, 6, 2)  # blocks per stage
    stage_heads: tuple[int, ...] = (3, 6, 12, 24)  # heads per stage
    window_size: int = 7
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    layer_norm_eps: float = 1e-5
    act: str = "gelu"
    abs_pos: bool = False
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_hf(cls, cfg: dict, pre: dict | None = None) -> SwinConfig:
        pre = pre or {}
        size = cfg.get("image_size", 224)
        return cls(
            image_size=size[0] if isinstance(size, (list, tuple)) else size,
            patch_size=_int(cfg.get("patch_size", 4)),
            num_channels=cfg.get("num_channels", 3),
            hidden_size=cfg["embed_dim"],
            stage_layers=tuple(cfg["depths"]),
            stage_heads=tuple(cfg["num_heads"]),
            window_size=cfg["window_size"],
            mlp_ratio=cfg.get("mlp_ratio", 4.0),
            qkv_bias=cfg.get("qkv_bias", True),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-5),
            act=cfg.get("hidden_act", "gelu"),
            abs_pos=cfg.get("use_absolute_embeddings", False),
            image_mean=tuple(pre.get("image_mean", IMAGENET_MEAN)),
            image_std=tuple(pre.get("image_std", IMAGENET_STD)),
        )

    def stage_dims(self) -> list[int]:
        return [self.hidden_size * 2**s for s in range(len(self.stage_layers))]


def _int(v) -> int:
    return v[0] if isinstance(v, (list, tuple)) else v


@dataclass
class SwinOutput:
    last_hidden_state: torch.Tensor  # (B, N, C) after the final LayerNorm
    pooled: torch.Tensor  # (B, C) mean over tokens
    grid: tuple[int, int]  # final map size (h, w)


class RelativePositionBias(nn.Module):
    """The learned ((2M−1)², heads) table; forward(m) gathers (1, heads, m², m²) for m×m windows (m <= M)."""

    def __init__(self, window_size: int, num_heads: int):
        super().__init__()
        self.window_size = window_size
        self.table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("index", relative_position_index(window_size), persistent=False)

    def forward(self, m: int) -> torch.Tensor:
        index = self.index if m == self.window_size else relative_position_index(m, self.window_size)
        return relative_position_bias(self.table, index.to(self.table.device))[None]  # (1, heads, m², m²)


SHIFT_MASK_LOGIT = -100.0  # official Swin's additive mask between regions of a shifted window


class SwinBlock(nn.Module):
    """Pre-LN block: x + (S)W-MSA(LN(x)), then x + MLP(LN(x)). The map is zero-padded right/bottom to whole
    windows after norm1 (as HF does); padded tokens are not masked (as in HF), and are dropped afterwards."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        shift: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        eps: float = 1e-5,
        act: str = "gelu",
    ):
        super().__init__()
        self.window_size, self.shift = window_size, shift
        self.norm1 = HookedLayerNorm(dim, eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.rel_bias = RelativePositionBias(window_size, num_heads)
        self.norm2 = HookedLayerNorm(dim, eps)
        self.mlp = MLP(dim, int(dim * mlp_ratio), act=act)
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        self.hook_attn_out, self.hook_mlp_out = HookPoint(), HookPoint()

    def window_attention(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, _, C = x.shape
        m, s = window_config(H, W, self.window_size, self.shift)
        Hp, Wp = padded_size(H, W, m)
        x = F.pad(x.view(B, H, W, C), (0, 0, 0, Wp - W, 0, Hp - H))  # (B, Hp, Wp, C)
        win = window_partition(cyclic_shift(x, s), m).view(-1, m * m, C)  # (B·nW, m², C)
        bias = self.rel_bias(m).to(x.dtype)  # (1, heads, m², m²)
        if s:  # pairs across regions get −100 added, as in the official code and HF, not −∞: a trained model whose
            # logits span more than 100 attends a little across regions, and parity with its checkpoints needs that
            apart = ~shifted_window_mask(Hp, Wp, m, s).to(x.device).repeat(B, 1, 1)[:, None]  # (B·nW, 1, m², m²)
            bias = bias + apart.to(x.dtype) * SHIFT_MASK_LOGIT  # (B·nW, heads, m², m²)
        out = self.attn(win, None, bias)  # (B·nW, m², C)
        out = cyclic_unshift(window_reverse(out.view(-1, m, m, C), m, Hp, Wp), s)  # (B, Hp, Wp, C)
        return out[:, :H, :W].reshape(B, H * W, C)  # (B, N, C)

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.window_attention(self.norm1(x), *hw)))
        x = x + self.hook_mlp_out(self.mlp(self.norm2(x)))
        return self.hook_resid_post(x)


class PatchMerging(nn.Module):
    """2×2 neighbours concatenated (order x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2]) → LN → Linear
    4C → 2C. Odd maps are zero-padded right/bottom first."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=eps)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.hook_out = HookPoint()

    def forward(self, x: torch.Tensor, hw: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        (H, W), (B, _, C) = hw, x.shape
        x = F.pad(x.view(B, H, W, C), (0, 0, 0, W % 2, 0, H % 2))  # (B, H', W', C), even sides
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)  # (B, h, w, 4C)
        h, w = x.shape[1:3]
        return self.hook_out(self.reduction(self.norm(x.reshape(B, h * w, 4 * C)))), (h, w)  # (B, h·w, 2C)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: SwinConfig):
        super().__init__()
        self.patch_size = cfg.patch_size
        self.proj = nn.Conv2d(cfg.num_channels, cfg.hidden_size, cfg.patch_size, stride=cfg.patch_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=1e-5)  # HF: nn.LayerNorm(embed_dim), default eps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        p = self.patch_size
        x = F.pad(x, (0, (-x.shape[3]) % p, 0, (-x.shape[2]) % p))  # (B, 3, H', W'), whole patches
        x = self.proj(x)  # (B, C, h, w)
        h, w = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), (h, w)  # (B, h·w, C)


class Swin(ContractMixin, nn.Module):
    """Contract: num_layers counts every block of every stage (blocks.{i}, as recorded); num_heads is the
    first stage's (the fewest: every head index below it exists in every block); heads_of(i) per block;
    hidden_size is the first stage's width (cfg.hidden_size; stage s is 2^s times wider)."""

    kind = "swin"

    @property
    def num_layers(self) -> int:
        return sum(self.cfg.stage_layers)

    @property
    def num_heads(self) -> int:
        return min(self.cfg.stage_heads)

    def heads_of(self, block: int) -> int:
        return self.cfg.stage_heads[self.block_stage[block]]

    def __init__(self, cfg: SwinConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        n = (cfg.image_size // cfg.patch_size) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(1, n, cfg.hidden_size)) if cfg.abs_pos else None
        self.hook_embed = HookPoint()
        dims, blocks, self.block_stage = cfg.stage_dims(), [], []
        for s, (depth, heads) in enumerate(zip(cfg.stage_layers, cfg.stage_heads)):
            for j in range(depth):
                shift = 0 if j % 2 == 0 else cfg.window_size // 2
                blocks.append(
                    SwinBlock(
                        dims[s], heads, cfg.window_size, shift, cfg.mlp_ratio, cfg.qkv_bias, cfg.layer_norm_eps, cfg.act
                    )
                )
                self.block_stage.append(s)
        self.blocks = nn.ModuleList(blocks)
        self.merges = nn.ModuleList(PatchMerging(d) for d in dims[:-1])
        self.norm = nn.LayerNorm(dims[-1], eps=cfg.layer_norm_eps)

    @property
    def device(self) -> torch.device:
        return self.patch_embed.proj.weight.device

    def block_grid(self, i: int, hw: tuple[int, int] | None = None) -> tuple[int, int]:
        """Feature-map size seen by block i for an input patch grid hw (default: the config's image)."""
        h, w = hw or (self.cfg.image_size // self.cfg.patch_size,) * 2
        for _ in range(self.block_stage[i]):
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    def forward(self, pixel_values: torch.Tensor) -> SwinOutput:
        x, hw = self.patch_embed(pixel_values)  # (B, N, C)
        if self.pos_embed is not None:
            if x.shape[1] != self.pos_embed.shape[1]:
                raise InputError(
                    f"This checkpoint has absolute position embeddings for {self.cfg.image_size} px "
                    "images; resize the input to that size (model.prepare does)."
                )
            x = x + self.pos_embed
        x = self.hook_embed(x)
        for i, block in enumerate(self.blocks):
            x = block(x, hw)
            if i + 1 < len(self.blocks) and self.block_stage[i + 1] != self.block_stage[i]:
                x, hw = self.merges[self.block_stage[i]](x, hw)  # (B, N/4, 2C)
        x = self.norm(x)
        return SwinOutput(x, x.mean(1), hw)

    def prepare(self, image) -> ImageBatch:
        """PIL image → ImageBatch {"pixel_values": (1, 3, S, S)}: stretched to the config's size with bicubic
        resampling (HF's Swin processor), normalised; `batch.image` is the resized picture."""
        cfg = self.cfg
        return prepare_image(
            image,
            cfg.image_size,
            "stretch",
            cfg.image_mean,
            cfg.image_std,
            patch=cfg.patch_size,
            resample=Image.Resampling.BICUBIC,
            channels=cfg.num_channels,
            device=self.device,
        )


@register_architecture("swin")
def load_swin_dir(folder: Path) -> Swin:
    pre = _read_preprocessor(Path(folder))
    try:
        cfg = SwinConfig.from_hf(read_config(folder), pre)
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(
            f"{folder}/config.json is not a valid Swin config ({type(err).__name__}: {err})."
        ) from None
    model = Swin(cfg)
    return load_converted(model, convert_hf_swin(read_state_dict(folder), cfg), str(folder))


def _read_preprocessor(folder: Path) -> dict:

    path = folder / "preprocessor_config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
