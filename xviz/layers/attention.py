"""Multi-head self-attention with hook points on every intermediate a visualiser wants.

Explicit path: QKᵀ·scale (+ additive bias) → mask → softmax → ·V, with hook_scores / hook_probs.
Fused path (F.scaled_dot_product_attention) only when neither scores nor probs are being recorded; a test shows
both give the same output. Mask convention (docs/ARCHITECTURE.md): bool, True = may attend, broadcastable to
(B, H, Nq, Nk).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xviz.hooks import HookPoint, lazy_attention
from xviz.lazy_attention import AttentionSource


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    B, N, _ = x.shape
    return x.view(B, N, num_heads, -1).transpose(1, 2)  # (B, N, C) -> (B, H, N, D)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    B, H, N, D = x.shape
    return x.transpose(1, 2).reshape(B, N, H * D)  # (B, H, N, D) -> (B, N, H·D)


def masked_fill_value(dtype: torch.dtype) -> float:
    """Most negative finite value: masked keys get probability exactly 0, and a fully masked row stays finite."""
    return torch.finfo(dtype).min


def explicit_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """softmax(q·kᵀ·scale + bias, masked) · v → (z, probs, scores); all (B, H, ...)."""
    scale = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale  # (B, H, Nq, Nk)
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = scores.masked_fill(~mask, masked_fill_value(scores.dtype))
    probs = scores.softmax(dim=-1)
    return probs @ v, probs, scores


def fused_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    attn_mask = mask
    if bias is not None:
        attn_mask = bias.to(q.dtype)
        if mask is not None:
            attn_mask = attn_mask.masked_fill(~mask, masked_fill_value(q.dtype))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=scale)


class Attention(nn.Module):
    """Multi-head attention. q/k/v/out projections are separate Linear layers (HF BERT/ViT layout).

    Hooks: hook_q, hook_k, hook_v (B, H, N, D); hook_scores (B, H, Nq, Nk) after scale, bias and mask, before
    softmax; hook_probs (B, H, Nq, Nk); hook_z (B, H, N, D) per-head output before the output projection.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        head_dim: int | None = None,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        scale: float | None = None,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim or dim // num_heads
        inner = self.num_heads * self.head_dim
        self.scale = scale if scale is not None else self.head_dim**-0.5
        self.q_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.k_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.v_proj = nn.Linear(dim, inner, bias=qkv_bias)
        self.out_proj = nn.Linear(inner, dim, bias=proj_bias)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_scores, self.hook_probs, self.hook_z = HookPoint(), HookPoint(), HookPoint()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
        kv: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, Nq, C); kv (B, Nk, C) for cross-attention (keys and values from the encoder), else x."""
        kv = x if kv is None else kv
        q = self.hook_q(split_heads(self.q_proj(x), self.num_heads))  # (B, H, Nq, D)
        k = self.hook_k(split_heads(self.k_proj(kv), self.num_heads))  # (B, H, Nk, D)
        v = self.hook_v(split_heads(self.v_proj(kv), self.num_heads))
        keep = lazy_attention(self.hook_scores, self.hook_probs, (q.shape[0], q.shape[1], q.shape[2], k.shape[2]))
        if keep is not None:  # attention kept on demand: the fused kernel runs, q/k/mask/bias are kept
            keep(AttentionSource(q, k, mask, bias, self.scale))
            z = fused_attention(q, k, v, mask, bias, self.scale)
        elif self.hook_scores.active() or self.hook_probs.active():
            z, probs, scores = explicit_attention(q, k, v, mask, bias, self.scale)
            self.hook_scores(scores)
            self.hook_probs(probs)
        else:
            z = fused_attention(q, k, v, mask, bias, self.scale)
        z = self.hook_z(z)  # (B, H, N, D)
        return self.out_proj(merge_heads(z))
