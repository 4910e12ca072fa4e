"""Transformer block with the LayerNorm before (pre-LN) or after (post-LN) each sub-layer.

Post-LN (Vaswani, BERT): x = LN(x + F(x)).  Pre-LN (GPT-2, ViT): x = x + F(LN(x)) (+ a final LN in the model).
Xiong et al. 2020 compare the two; `norm1`/`norm2` carry hook_in/hook_out whatever their position.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
from torch import nn

from xviz.hooks import HookPoint
from xviz.layers.attention import Attention

# name (xviz's and HF's `hidden_act` spellings) → activation module class; modules, not lambdas, so that a
# model can be pickled and its activation shows up in print(model)
ACTIVATIONS = {
    "gelu": nn.GELU,
    "gelu_tanh": partial(nn.GELU, approximate="tanh"),
    "gelu_new": partial(nn.GELU, approximate="tanh"),
    "gelu_pytorch_tanh": partial(nn.GELU, approximate="tanh"),
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
}


class HookedLayerNorm(nn.LayerNorm):
    """LayerNorm with hook_in / hook_out (B, N, C)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__(dim, eps=eps)
        self.hook_in, self.hook_out = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_out(super().forward(self.hook_in(x)))


class LayerScale(nn.Module):
    """Per-channel scale on a residual branch (CaiT / DINOv2)."""

    def __init__(self, dim: int, init: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int, *, act: str = "gelu", bias: bool = True):
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; known: {sorted(ACTIVATIONS)}")
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        self.act = ACTIVATIONS[act]()
        self.hook_hidden = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.hook_hidden(self.act(self.fc1(x))))


class Block(nn.Module):
    """Attention + MLP sub-layers with residuals. Hooks: hook_resid_pre/mid/post, hook_attn_out, hook_mlp_out."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_hidden: int | None = None,
        norm_position: Literal["pre", "post"] = "pre",
        eps: float = 1e-5,
        act: str = "gelu",
        qkv_bias: bool = True,
        layer_scale: float | None = None,
        head_dim: int | None = None,
    ):
        super().__init__()
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
        self.norm_position = norm_position
        self.norm1 = HookedLayerNorm(dim, eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, head_dim=head_dim)
        self.ls1 = LayerScale(dim, layer_scale) if layer_scale is not None else nn.Identity()
        self.norm2 = HookedLayerNorm(dim, eps)
        self.mlp = MLP(dim, mlp_hidden or 4 * dim, act=act)
        self.ls2 = LayerScale(dim, layer_scale) if layer_scale is not None else nn.Identity()
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        self.hook_attn_out, self.hook_mlp_out = HookPoint(), HookPoint()

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        if self.norm_position == "pre":
            x = self.hook_resid_mid(x + self.hook_attn_out(self.ls1(self.attn(self.norm1(x), mask, bias))))
            x = x + self.hook_mlp_out(self.ls2(self.mlp(self.norm2(x))))
        else:
            x = self.hook_resid_mid(self.norm1(x + self.hook_attn_out(self.ls1(self.attn(x, mask, bias)))))
            x = self.norm2(x + self.hook_mlp_out(self.ls2(self.mlp(x))))
        return self.hook_resid_post(x)
