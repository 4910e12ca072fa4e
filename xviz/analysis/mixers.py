"""What the Token mixers page computes: how each trained digits model mixes its tokens, its size, speed and
accuracy, and what a shift of a few pixels does to it. Pure torch; models are only read (eval, no_grad).

Mixing operators (rows: output token, columns: input token; N = 16 patches in raster order):
- ViT: the attention probabilities softmax(QKᵀ/√D) of this input (input-dependent, per head).
- Mixer: y[:, c] = W2·gelu(W1·x[:, c]); W1 (S, N), W2 (N, S) learned, the same for every channel and input.
  W2·W1 (N, N) is the mixing without the GELU (a summary).
- FNet: Re(F_N · X · F_C) with the DFT matrices F_n[j, k] = exp(−2πi·jk/n) (Lee-Thorp et al. 2021, eq. 3), i.e.
  cos(2πjk/N)·X·cos(2πjk/C) − sin(2πjk/N)·X·sin(2πjk/C): two fixed token matrices, no parameters.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from xviz.data.digits import load_split, normalise, shift
from xviz.hooks import record

MODEL_NAMES = ("vit-digits", "mixer-digits", "fnet-digits", "cnn-digits")
MIXING = {
    "vit-digits": "self-attention (input-dependent)",
    "mixer-digits": "learned token MLP (input-independent)",
    "fnet-digits": "fixed 2-D Fourier transform (no parameters)",
    "cnn-digits": "3 × 3 convolutions + pooling",
}
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # right, left, down, up


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def accuracy(model, x01: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    dev = model.device
    hits = sum(
        int((model(normalise(x01[i : i + batch]).to(dev)).logits.argmax(-1).cpu() == y[i : i + batch]).sum())
        for i in range(0, len(y), batch)
    )
    return hits / len(y)


def held_out_accuracy(model) -> float:
    x, y = load_split("test")
    return accuracy(model, x, y)


def shift_accuracy(model, shifts=(0, 1, 2, 3)) -> list[float]:
    """Held-out accuracy with every image shifted by s px, averaged over right, left, down and up."""
    x, y = load_split("test")
    out = []
    for s in shifts:
        dirs = DIRECTIONS if s else ((0, 0),)
        out.append(sum(accuracy(model, shift(x, dx * s, dy * s), y) for dx, dy in dirs) / len(dirs))
    return out


@torch.no_grad()
def speed_ms(model, batch: int = 64, repeats: int = 5) -> float:
    """Median milliseconds per image of a forward on a batch of `batch` random images on the model's device."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 16, 16, generator=g).to(model.device)
    model(x)  # warm-up
    times = []
    for _ in range(repeats):
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1000 / batch


@torch.no_grad()
def probabilities(model, x01: torch.Tensor) -> torch.Tensor:
    """(1, 1, 16, 16) in [0, 1] → (10,) class probabilities."""
    return model(normalise(x01).to(model.device)).logits.softmax(-1)[0].cpu()


@torch.no_grad()
def vit_attention(model, x01: torch.Tensor) -> torch.Tensor:
    """The ViT's attention probabilities on this digit: (L, H, 1 + N, 1 + N), token 0 = CLS."""
    with record(model, names="*.attn.hook_probs") as rec:
        model(normalise(x01).to(model.device))
    return rec.stack("probs")[:, 0].float()  # (L, B, H, N, N) -> (L, H, N, N)


@dataclass
class MixerMatrices:
    w1: torch.Tensor  # (L, S, N) first token-mixing layer
    w2: torch.Tensor  # (L, N, S) second token-mixing layer
    linear: torch.Tensor  # (L, N, N) W2·W1


def mixer_matrices(model) -> MixerMatrices:
    """The Mixer's learned token-mixing weights: input-independent, shared by all channels."""
    w1 = torch.stack([b.token_mix.fc1.weight.detach() for b in model.blocks]).cpu()
    w2 = torch.stack([b.token_mix.fc2.weight.detach() for b in model.blocks]).cpu()
    return MixerMatrices(w1, w2, w2 @ w1)


def dft_matrix(n: int) -> torch.Tensor:
    """F[j, k] = exp(−2πi·jk/n) (n, n) complex: torch.fft.fft(x, dim=0) == F @ x."""
    j = torch.arange(n, dtype=torch.float64)
    return torch.polar(torch.ones(n, n, dtype=torch.float64), -2 * math.pi * j[:, None] * j[None, :] / n)


def fourier_token_matrices(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) (n, n): Re(F_N X F_C) = cos_N·X·cos_C − sin_N·X·sin_C (Re F = cos, Im F = −sin)."""
    f = dft_matrix(n)
    return f.real.float(), (-f.imag).float()
