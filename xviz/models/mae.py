"""Masked autoencoder (He et al. 2021, "Masked Autoencoders Are Scalable Vision Learners"), written for xviz.

Encoder: patch embedding + fixed 2-D sin-cos positions (xviz.layers.pos_embed.sincos_2d, MAE layout), added
*before* patches are dropped; only the visible patches (+ CLS) go through the pre-LN `blocks`. Decoder: a
linear map to the decoder width, one shared mask token per hidden patch, unshuffled with `ids_restore`, its own
sin-cos table, `decoder_blocks`, a linear head to p²·C pixel values per patch. Loss: MSE on hidden patches only,
optionally against per-patch normalised targets (norm_pix_loss). Offline registry name: `mae-small`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from xviz.errors import InputError
from xviz.hooks import HookPoint
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD, ImageBatch, prepare_image
from xviz.layers.block import Block
from xviz.layers.patches import make_mask, patchify, random_masking
from xviz.layers.pos_embed import sincos_2d
from xviz.models._checkpoint import load_with_config, save_with_config
from xviz.models.contract import ContractMixin


@dataclass(frozen=True)
class MAEConfig:
    image_size: tuple[int, int] = (64, 64)  # (H, W) the position tables are built for
    patch_size: int = 8
    num_channels: int = 3
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    mlp_hidden: int = 512
    decoder_hidden_size: int = 96
    decoder_layers: int = 2
    decoder_heads: int = 4
    decoder_mlp_hidden: int = 384
    mask_ratio: float = 0.75
    norm_pix_loss: bool = False
    layer_norm_eps: float = 1e-6
    act: str = "gelu"
    qkv_bias: bool = True
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD
    extra: dict = field(default_factory=dict, compare=False, hash=False)  # e.g. training notes

    @property
    def grid(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> MAEConfig:
        d = dict(d)
        for k in ("image_size", "image_mean", "image_std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class MAEOutput:
    loss: torch.Tensor  # () mean squared error over hidden patches
    pred: torch.Tensor  # (B, N, p²·C) per-patch prediction (normalised patches if norm_pix_loss)
    is_masked: torch.Tensor  # (B, N) bool, True = hidden from the encoder
    ids_restore: torch.Tensor  # (B, N) long
    latent: torch.Tensor  # (B, 1 + K, C) encoder output (CLS first)


def patch_targets(imgs: torch.Tensor, p: int, norm_pix: bool) -> torch.Tensor:
    """Loss targets (B, N, p²·C). norm_pix: each patch minus its mean over its p²·C values, divided by
    sqrt(unbiased variance + 1e-6) (MAE §A.1 / official loss)."""
    target = patchify(imgs, p)  # (B, N, p²·C)
    if not norm_pix:
        return target
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True, unbiased=True)
    return (target - mean) / (var + 1e-6) ** 0.5


def masked_mse(pred: torch.Tensor, target: torch.Tensor, is_masked: torch.Tensor) -> torch.Tensor:
    """Mean over hidden patches of the per-patch mean squared error; visible patches do not count."""
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, N)
    m = is_masked.to(per_patch.dtype)
    return (per_patch * m).sum() / m.sum().clamp(min=1)


class MAE(ContractMixin, nn.Module):
    kind = "mae"  # contract: num_layers / num_heads / hidden_size are the encoder's; the decoder has its own

    def __init__(self, cfg: MAEConfig):
        super().__init__()
        self.cfg = cfg
        p, C, eps = cfg.patch_size, cfg.num_channels, cfg.layer_norm_eps
        D, Dd = cfg.hidden_size, cfg.decoder_hidden_size
        self.patch_embed = nn.Conv2d(C, D, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.blocks = nn.ModuleList(
            Block(D, cfg.num_heads, mlp_hidden=cfg.mlp_hidden, eps=eps, act=cfg.act, qkv_bias=cfg.qkv_bias)
            for _ in range(cfg.num_layers)
        )
        self.norm = nn.LayerNorm(D, eps=eps)
        self.decoder_embed = nn.Linear(D, Dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
        self.decoder_blocks = nn.ModuleList(
            Block(Dd, cfg.decoder_heads, mlp_hidden=cfg.decoder_mlp_hidden, eps=eps, act=cfg.act, qkv_bias=cfg.qkv_bias)
            for _ in range(cfg.decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(Dd, eps=eps)
        self.decoder_pred = nn.Linear(Dd, p * p * C)
        gh, gw = cfg.grid
        # fixed (not learned) tables; non-persistent: rebuilt from the config, never read from a checkpoint
        self.register_buffer("pos_embed", sincos_2d(gh, gw, D, cls_token=True)[None], persistent=False)
        self.register_buffer("decoder_pos_embed", sincos_2d(gh, gw, Dd, cls_token=True)[None], persistent=False)
        self.hook_embed, self.hook_latent, self.hook_decoder_in, self.hook_pred = (HookPoint() for _ in range(4))

    @property
    def device(self) -> torch.device:
        return self.cls_token.device

    def init_weights(self, generator: torch.Generator | None = None) -> MAE:
        """MAE-style init: xavier-uniform Linear / patch projection, zero biases, N(0, 0.02) tokens."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                w = m.weight.view(m.weight.shape[0], -1)  # (out, in·k·k) as a Linear
                bound = (6.0 / (w.shape[0] + w.shape[1])) ** 0.5
                with torch.no_grad():
                    w.uniform_(-bound, bound, generator=generator)
                    if m.bias is not None:
                        m.bias.zero_()
        with torch.no_grad():
            self.cls_token.normal_(0, 0.02, generator=generator)
            self.mask_token.normal_(0, 0.02, generator=generator)
        return self

    def _pos(self, table: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """The fixed table for this grid (a new sin-cos table when the image size differs from the config)."""
        if grid == self.cfg.grid:
            return table
        return sincos_2d(*grid, table.shape[-1], cls_token=True)[None].to(table)

    def masking(
        self, B: int, grid: tuple[int, int], ratio: float | None, noise=None, generator=None, strategy: str = "random"
    ):
        ratio = self.cfg.mask_ratio if ratio is None else ratio
        N = grid[0] * grid[1]
        if noise is not None:
            return random_masking(B, N, ratio, noise=noise.cpu(), device=self.device)
        return make_mask(strategy, B, N, ratio, generator, grid_hw=grid, device=self.device)

    def forward_encoder(
        self,
        pixel_values: torch.Tensor,
        mask_ratio: float | None = None,
        noise=None,
        generator=None,
        strategy: str = "random",
        masking=None,
    ):
        """→ latent (B, 1 + K, C), is_masked (B, N), ids_restore (B, N). `masking` = a ready (ids_keep,
        is_masked, ids_restore) from xviz.layers.patches; else `noise` (exact reproduction) or a strategy."""
        B, C, H, W = pixel_values.shape
        p = self.cfg.patch_size
        if C != self.cfg.num_channels or H % p or W % p:
            raise InputError(
                f"Expected {self.cfg.num_channels}-channel images whose sides are multiples of {p}, got {C}×{H}×{W}."
            )
        grid = (H // p, W // p)
        pos = self._pos(self.pos_embed, grid)  # (1, 1 + N, C)
        x = self.patch_embed(pixel_values).flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, N, C)
        x = self.hook_embed(x + pos[:, 1:])
        if masking is None:
            masking = self.masking(B, grid, mask_ratio, noise, generator, strategy)
        ids_keep, is_masked, ids_restore = (t.to(x.device) for t in masking)
        x = x.gather(1, ids_keep[..., None].expand(-1, -1, x.shape[-1]))  # (B, K, C) visible only
        cls = (self.cls_token + pos[:, :1]).expand(B, -1, -1)  # (B, 1, C)
        x = torch.cat([cls, x], dim=1)  # (B, 1 + K, C)
        for block in self.blocks:
            x = block(x)
        return self.hook_latent(self.norm(x)), is_masked, ids_restore

    def forward_decoder(
        self, latent: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Encoder output + shared mask tokens, unshuffled to the original patch order → (B, N, p²·C)."""
        x = self.decoder_embed(latent)  # (B, 1 + K, Cd)
        B, N = ids_restore.shape
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(B, N - (x.shape[1] - 1), -1)], dim=1)  # (B, N, Cd)
        tokens = tokens.gather(1, ids_restore[..., None].expand(-1, -1, x.shape[-1]))  # shuffle order -> original
        x = torch.cat([x[:, :1], tokens], dim=1)  # (B, 1 + N, Cd)
        x = self.hook_decoder_in(x + self._pos(self.decoder_pos_embed, grid or self._square(N)))
        for block in self.decoder_blocks:
            x = block(x)
        return self.hook_pred(self.decoder_pred(self.decoder_norm(x))[:, 1:])  # drop CLS -> (B, N, p²·C)

    def _square(self, N: int) -> tuple[int, int]:
        if N == self.cfg.grid[0] * self.cfg.grid[1]:
            return self.cfg.grid
        side = int(round(N**0.5))
        if side * side != N:
            raise InputError(f"Pass grid=(rows, cols) for {N} patches.")
        return side, side

    def forward_loss(self, pixel_values: torch.Tensor, pred: torch.Tensor, is_masked: torch.Tensor) -> torch.Tensor:
        target = patch_targets(pixel_values, self.cfg.patch_size, self.cfg.norm_pix_loss)
        return masked_mse(pred, target, is_masked)

    def forward(
        self,
        pixel_values: torch.Tensor,
        mask_ratio: float | None = None,
        noise=None,
        generator=None,
        strategy: str = "random",
        masking=None,
    ) -> MAEOutput:
        p = self.cfg.patch_size
        grid = (pixel_values.shape[2] // p, pixel_values.shape[3] // p)
        latent, is_masked, ids_restore = self.forward_encoder(
            pixel_values, mask_ratio, noise, generator, strategy, masking
        )
        pred = self.forward_decoder(latent, ids_restore, grid)
        loss = self.forward_loss(pixel_values, pred, is_masked)
        return MAEOutput(loss, pred, is_masked, ids_restore, latent)

    def prepare(self, image, size: tuple[int, int] | None = None) -> ImageBatch:
        """PIL image → ImageBatch {"pixel_values": (1, C, H, W)}: resized so it covers (H, W) (bicubic) and
        centre-cropped to the model's image size (grayscale when num_channels is 1), normalised with the config's
        mean/std."""
        return prepare_mae(image, self.cfg, size, self.device)


def prepare_mae(image, cfg: MAEConfig, size: tuple[int, int] | None = None, device="cpu") -> ImageBatch:
    """The MAE's preparation without a model (training scripts, benchmarks): see MAE.prepare."""
    return prepare_image(
        image,
        size or cfg.image_size,
        "crop",
        cfg.image_mean,
        cfg.image_std,
        patch=cfg.patch_size,
        crop_ratio=1.0,
        channels=cfg.num_channels,
        device=device,
    )


def load_mae_file(path: Path) -> MAE:
    """An xviz MAE safetensors file: weights + the config as JSON in its metadata."""
    model, _ = load_with_config(path, "MAE", lambda cfg: MAE(MAEConfig.from_json(cfg)))
    return model


def save_mae_file(model: MAE, path: Path, extra_meta: dict | None = None) -> None:
    save_with_config(model, path, {"config": json.dumps(model.cfg.to_json()), **(extra_meta or {})})
