"""A small causal language model: token embedding + sinusoidal positions + L Blocks (pre- or post-LN) + head.

The setting of Xiong et al. 2020 ("On Layer Normalization in the Transformer Architecture"): Xavier-initialised
weights, ReLU FFN, an untied output head, and for pre-LN the final LayerNorm (`norm_f`). Hook names follow the
project: `blocks.{i}.norm1|norm2.hook_in|hook_out`, `blocks.{i}.hook_resid_*`, `norm_f.hook_in|hook_out`.

Modules are made on the meta device and the weights initialised from a `torch.Generator` seeded with `seed`, so
building a model never reads or advances the process-global RNG (sessions of one server stay independent and runs
are reproducible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from xviz.layers import masks
from xviz.layers.block import Block, HookedLayerNorm
from xviz.layers.pos_embed import sinusoidal


@dataclass(frozen=True)
class LMConfig:
    vocab_size: int = 64
    hidden_size: int = 64
    num_layers: int = 6
    num_heads: int = 4
    mlp_hidden: int = 128
    norm_position: Literal["pre", "post"] = "pre"
    act: str = "relu"  # the paper's FFN: max(0, xW¹ + b¹)W² + b²


class TinyLM(nn.Module):
    """Causal LM: logits = head(norm_f(blocks(embed(ids)·√d + PE))). norm_f exists only for pre-LN."""

    kind = "text"

    def __init__(self, cfg: LMConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        with torch.device("meta"):  # no memory, no global-RNG draws; real values come from init_weights
            # _weight: skip Embedding's own normal_ init (on meta it goes through slow Python reference kernels)
            V, C = cfg.vocab_size, cfg.hidden_size
            self.embed = nn.Embedding(V, C, _weight=torch.empty(V, C))
            self.blocks = nn.ModuleList(
                Block(C, cfg.num_heads, mlp_hidden=cfg.mlp_hidden, norm_position=cfg.norm_position, act=cfg.act)
                for _ in range(cfg.num_layers)
            )
            self.norm_f = HookedLayerNorm(C) if cfg.norm_position == "pre" else nn.Identity()
            self.head = nn.Linear(C, V, bias=False)  # untied from the embedding
        _materialize(self)
        init_weights(self, torch.Generator().manual_seed(seed))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, N) int64 → logits (B, N, vocab)."""
        N, d = ids.shape[1], self.cfg.hidden_size
        pe = sinusoidal(N, d).to(self.head.weight.device)  # (N, C)
        x = self.embed(ids) * math.sqrt(d) + pe  # (B, N, C), fairseq scaling
        mask = masks.causal(N, device=ids.device)  # (N, N), True = may attend
        for blk in self.blocks:
            x = blk(x, mask)
        return self.head(self.norm_f(x))


def _materialize(model: nn.Module) -> None:
    """Give every meta parameter CPU storage (like Module.to_empty, whose meta path imports sympy: seconds)."""
    for m in model.modules():
        for name, p in list(m.named_parameters(recurse=False)):
            setattr(m, name, nn.Parameter(torch.empty(p.shape, dtype=p.dtype), requires_grad=p.requires_grad))
    assert not any(b.is_meta for b in model.buffers()), "TinyLM has no buffers to materialise"


def init_weights(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Xavier-uniform Linear weights, zero biases, LayerNorm γ=1 β=0, embeddings N(0, d^-½) (Vaswani/fairseq)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=m.embedding_dim**-0.5, generator=generator)
    return model


def build_lm(cfg: LMConfig, seed: int = 0, device: torch.device | str = "cpu") -> TinyLM:
    """A fresh TinyLM, initialised on the CPU from `seed` (same weights on every device), then moved."""
    return TinyLM(cfg, seed).to(device)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean next-token cross-entropy. logits (B, N, V), targets (B, N) (ignore_index = not scored)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)  # (B·N, V)
