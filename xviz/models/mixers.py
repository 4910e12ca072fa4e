"""Token mixers on 16 × 16 digits (xviz.data.digits): the same patch tokens mixed by self-attention (ViT), a
learned input-independent MLP over tokens (MLP-Mixer, Tolstikhin et al. 2021) or a fixed Fourier transform
(FNet, Lee-Thorp et al. 2021), and a small CNN as the convolution reference. Each forward returns DigitOutput
(logits). Registry names `vit-digits` (kind "image": the Attention page opens it), `mixer-digits`,
`fnet-digits`, `cnn-digits` (kind "mixer"), trained by scripts/train_mixers.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from xviz.data.digits import SIZE, image_to_digit, normalise
from xviz.hooks import HookPoint
from xviz.layers.block import MLP, HookedLayerNorm
from xviz.models.contract import ContractMixin

ARCHS = ("vit", "mixer", "fnet", "cnn")


@dataclass(frozen=True)
class DigitConfig:
    arch: str = "mixer"
    image_size: int = SIZE
    patch_size: int = 4
    hidden_size: int = 64
    num_layers: int = 4
    num_heads: int = 4  # ViT only
    token_hidden: int = 64  # Mixer: hidden width of the token-mixing MLP
    mlp_hidden: int = 128  # channel MLP / FFN width
    channels: tuple = (16, 32, 64)  # CNN
    num_classes: int = 10

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid**2

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, d: dict) -> DigitConfig:
        d = dict(d)
        d["channels"] = tuple(d.get("channels", (16, 32, 64)))
        return cls(**d)


@dataclass
class DigitOutput:
    logits: torch.Tensor  # (B, 10)


class DigitModel(ContractMixin):
    """What the four digit models share: input preparation, the contract, `predict`."""

    cfg: DigitConfig

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prepare(self, image, size=None, mode=None) -> dict:
        """A PIL image or a (1, 1, 16, 16) tensor in [0, 1] → {"pixel_values"} (size / mode are ignored: the
        models are trained at 16 × 16)."""

        x01 = image if isinstance(image, torch.Tensor) else image_to_digit(image)
        return {"pixel_values": normalise(x01).to(self.device)}

    @torch.no_grad()
    def predict(self, x01: torch.Tensor) -> torch.Tensor:
        """(B, 1, 16, 16) in [0, 1] → class probabilities (B, 10)."""
        return self(normalise(x01).to(self.device)).logits.softmax(-1).cpu()


class PatchEmbed(nn.Module):
    """Non-overlapping p × p patches → tokens (B, N, C), row-major, with a learned position table."""

    def __init__(self, cfg: DigitConfig, pos: bool = True):
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.hidden_size, cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(1, cfg.num_tokens, cfg.hidden_size)) if pos else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x).flatten(2).transpose(1, 2)  # (B, C, g, g) -> (B, g·g, C)
        return x + self.pos if self.pos is not None else x


class TokenMixingMLP(nn.Module):
    """Mixer's token mixing: for every channel c, y[:, c] = W2 · gelu(W1 · x[:, c] + b1) + b2, with
    W1 (S, N) and W2 (N, S) shared by all channels and independent of the input (Tolstikhin et al. 2021, eq. 1).
    Hooks: hook_in (B, C, N) the transposed tokens, hook_hidden (B, C, S), hook_out (B, C, N)."""

    def __init__(self, num_tokens: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(num_tokens, hidden)  # weight (S, N)
        self.fc2 = nn.Linear(hidden, num_tokens)  # weight (N, S)
        self.hook_in, self.hook_hidden, self.hook_out = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xt = self.hook_in(x.transpose(1, 2))  # (B, N, C) -> (B, C, N)
        h = self.hook_hidden(F.gelu(self.fc1(xt)))  # (B, C, S)
        return self.hook_out(self.fc2(h)).transpose(1, 2)  # (B, C, N) -> (B, N, C)

    def linear_part(self) -> torch.Tensor:
        """W2 · W1 (N, N): the mixing matrix the MLP would be without its GELU (a summary, not the layer)."""
        return self.fc2.weight @ self.fc1.weight


class MixerBlock(nn.Module):
    """Pre-LN: x = x + TokenMix(LN(x)); x = x + ChannelMLP(LN(x)). Hooks: hook_resid_pre/mid/post."""

    def __init__(self, cfg: DigitConfig):
        super().__init__()
        self.norm1, self.norm2 = HookedLayerNorm(cfg.hidden_size, 1e-6), HookedLayerNorm(cfg.hidden_size, 1e-6)
        self.token_mix = TokenMixingMLP(cfg.num_tokens, cfg.token_hidden)
        self.mlp = MLP(cfg.hidden_size, cfg.mlp_hidden)
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.token_mix(self.norm1(x)))
        return self.hook_resid_post(x + self.mlp(self.norm2(x)))


def fourier_mix(x: torch.Tensor) -> torch.Tensor:
    """FNet's mixing (Lee-Thorp et al. 2021, eq. 3): Re(FFT_seq(FFT_hidden(x))) for x (B, N, C): a 1-D DFT
    over the hidden dimension, then over the tokens, real part kept. No parameters, same for every input."""
    return torch.fft.fft(torch.fft.fft(x, dim=-1), dim=-2).real


class FNetBlock(nn.Module):
    """Pre-LN variant of FNet's block: x = x + Re(FFT2(LN(x))); x = x + FFN(LN(x)). (FNet itself is post-LN;
    pre-LN trains more reliably on 1,350 images.) Hooks: hook_mix_in / hook_mix_out (B, N, C), resid pre/mid/post."""

    def __init__(self, cfg: DigitConfig):
        super().__init__()
        self.norm1, self.norm2 = HookedLayerNorm(cfg.hidden_size, 1e-6), HookedLayerNorm(cfg.hidden_size, 1e-6)
        self.mlp = MLP(cfg.hidden_size, cfg.mlp_hidden)
        self.hook_mix_in, self.hook_mix_out = HookPoint(), HookPoint()
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_mix_out(fourier_mix(self.hook_mix_in(self.norm1(x)))))
        return self.hook_resid_post(x + self.mlp(self.norm2(x)))


class TokenMixerNet(DigitModel, nn.Module):
    """Patch embedding → blocks (Mixer or FNet) → LayerNorm → mean over tokens → linear head."""

    kind = "mixer"

    def __init__(self, cfg: DigitConfig):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.hook_embed = HookPoint()
        block = {"mixer": MixerBlock, "fnet": FNetBlock}[cfg.arch]
        self.blocks = nn.ModuleList(block(cfg) for _ in range(cfg.num_layers))
        self.norm = HookedLayerNorm(cfg.hidden_size, 1e-6)
        self.head = nn.Linear(cfg.hidden_size, cfg.num_classes)
        self.hook_logits = HookPoint()

    @property
    def num_heads(self) -> int:
        return 0

    def forward(self, pixel_values: torch.Tensor) -> DigitOutput:
        x = self.hook_embed(self.patch_embed(pixel_values))  # (B, N, C)
        for block in self.blocks:
            x = block(x)
        return DigitOutput(self.hook_logits(self.head(self.norm(x).mean(1))))  # mean over tokens -> (B, 10)


class DigitCNN(DigitModel, nn.Module):
    """3 × (conv 3 × 3, padding 1 → GELU), max-pool 2 after the first two, global average pool → linear.
    Weight sharing over positions + pooling: the translation bias the token mixers lack. Hooks: hook_conv{i}."""

    kind = "mixer"

    def __init__(self, cfg: DigitConfig):
        super().__init__()
        self.cfg = cfg
        chans = (1,) + tuple(cfg.channels)
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:]))
        self.hooks = nn.ModuleList(HookPoint() for _ in self.convs)
        self.head = nn.Linear(chans[-1], cfg.num_classes)
        self.hook_logits = HookPoint()

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    @property
    def num_heads(self) -> int:
        return 0

    @property
    def hidden_size(self) -> int:  # no residual stream: the first convolution's channels
        return self.cfg.channels[0]

    def forward(self, pixel_values: torch.Tensor) -> DigitOutput:
        x = pixel_values
        for i, (conv, hook) in enumerate(zip(self.convs, self.hooks)):
            x = hook(F.gelu(conv(x)))  # (B, C_i, H_i, W_i)
            if i < len(self.convs) - 1:
                x = F.max_pool2d(x, 2)
        return DigitOutput(self.hook_logits(self.head(x.mean((2, 3)))))  # global average pool -> (B, 10)
