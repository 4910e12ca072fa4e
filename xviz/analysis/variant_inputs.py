"""Real and synthetic Q/K/V for the attention-variants page: one head of a model on the user's sentence or
image (recorded through the model's hook points), or a synthetic long sequence."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from xviz.errors import InputError
from xviz.hooks import record
from xviz.inputs.image_batch import ImageBatch


@dataclass
class HeadQKV:
    q: torch.Tensor  # (N, D), float32 on the CPU
    k: torch.Tensor
    v: torch.Tensor
    labels: list[str] = field(default_factory=list)
    source: str = ""
    causal: bool = False  # recorded from a causal (decoder) head: compare with causal variants

    @property
    def n(self) -> int:
        return self.q.shape[0]


def _check_head(model, layer: int, head: int) -> None:
    L, H = model.num_layers, model.num_heads
    if not (0 <= layer < L and 0 <= head < H):
        raise InputError(f"This model has layers 0–{L - 1} and heads 0–{H - 1}; got layer {layer}, head {head}.")


def kv_head(model, head: int) -> int:
    """The key/value head that serves query `head`: under grouped-query attention (Ainslie et al. 2023) each KV
    head serves num_heads / num_kv_heads consecutive query heads; otherwise the head itself."""
    return head // (model.num_heads // model.num_kv_heads)


def record_head(model, batch, layer: int, head: int) -> tuple[torch.Tensor, ...]:
    """Run the model once, recording only blocks.{layer}.attn.hook_q|k|v; return that head's (N, D) tensors
    (k and v of the KV head serving it)."""
    _check_head(model, layer, head)
    with torch.no_grad(), record(model, names=f"blocks.{layer}.attn.hook_[qkv]") as rec:
        model(**batch)
    kv = kv_head(model, head)
    q = rec["q", layer][0, head]  # (B, H, N, D) → (N, D)
    k, v = rec["k", layer][0, kv], rec["v", layer][0, kv]  # (B, Hkv, N, D) → (N, D)
    return q.float(), k.float(), v.float()


def text_qkv(model, text: str, layer: int, head: int, max_tokens: int = 512) -> HeadQKV:
    """Q/K/V of one head of a text model on a sentence (truncated to max_tokens, as the model allows)."""
    batch = model.prepare(text, max_length=max_tokens)
    q, k, v = record_head(model, batch, layer, head)
    gqa = f" (KV head {kv_head(model, head)})" if model.num_kv_heads != model.num_heads else ""
    note = " (truncated)" if batch.truncated else ""
    return HeadQKV(
        q, k, v, list(batch.tokens[0]), f"{model.name}, layer {layer}, head {head}{gqa}{note}", causal=model.is_causal
    )


def image_qkv(model, image, layer: int, head: int, size: int | None = None) -> HeadQKV:
    """Q/K/V of one head of a vision model on an image (CLS, registers and patch tokens)."""
    batch = model.prepare(image, size=size) if size else model.prepare(image)
    q, k, v = record_head(model, batch, layer, head)
    labels = (
        list(batch.token_labels)
        if isinstance(batch, ImageBatch) and batch.token_labels
        else [f"t{i}" for i in range(q.shape[0])]
    )
    return HeadQKV(q, k, v, labels, f"{model.name}, layer {layer}, head {head}")


def synthetic_qkv(n: int, d: int = 64, seed: int = 0, locality: float = 1.5) -> HeadQKV:
    """A long sequence with structure like a real head's: queries and keys share smooth positional features
    (so attention is mostly local, with slowly decaying tails) plus noise; values are Gaussian."""
    if not 2 <= n <= 16384:
        raise InputError(f"Synthetic sequences must have 2 to 16,384 tokens, got {n:,}.")
    g = torch.Generator().manual_seed(seed)
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freqs = torch.exp(-torch.linspace(0, math.log(n), d // 2))[None] * math.pi / 4  # (1, D/2) slow → fast
    pe = torch.cat([torch.sin(pos * freqs), torch.cos(pos * freqs)], dim=1)  # (N, D)
    q = locality * pe + 0.5 * torch.randn(n, d, generator=g)
    k = locality * pe + 0.5 * torch.randn(n, d, generator=g)
    v = torch.randn(n, d, generator=g)
    return HeadQKV(q, k, v, [str(i) for i in range(n)], f"synthetic, N = {n:,}, D = {d}, seed {seed}")
