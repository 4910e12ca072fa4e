"""The weights of a decoder-only HF model as plain per-head tensors, in one layout whatever the family, so analyses
(step by step, QK/OV circuits, logit attribution) never read HF module names themselves.

Layout (TransformerLens's convention: x (…, C) @ W): W_Q (H, C, D), W_K / W_V (Hkv, C, D) — per KV head under
grouped-query attention —, W_O (H, D, C); biases b_Q (H, D), b_K / b_V (Hkv, D), b_O (C,) or None. Families: the
Llama layout (q/k/v/o_proj: llama, mistral, qwen2, gemma, phi3 is not: fused qkv) and GPT-2 (fused c_attn Conv1D).
"""

from __future__ import annotations

import torch
from torch import nn

from xviz.errors import InputError
from xviz.models.contract import AttentionWeights, BlockWeights, MLPWeights, NormWeights


def norm_weights(m: nn.Module) -> NormWeights:
    eps = getattr(m, "variance_epsilon", None) or getattr(m, "eps", None) or 1e-5
    bias = getattr(m, "bias", None)
    kind = "layer" if isinstance(m, nn.LayerNorm) else "rms"
    return NormWeights(kind, m.weight.detach(), bias.detach() if bias is not None else None, float(eps))


def _heads_in(w: torch.Tensor, n: int) -> torch.Tensor:
    """(C, n·D) → (n, C, D)."""
    C = w.shape[0]
    return w.reshape(C, n, -1).permute(1, 0, 2)  # (C, n, D) → (n, C, D)


def _bias(b, n: int):
    return None if b is None else b.detach().reshape(n, -1)  # (n·D,) → (n, D)


def _llama_block(layer: nn.Module, H: int, Hkv: int) -> BlockWeights:
    a, m = layer.self_attn, layer.mlp
    lin = lambda p: p.weight.detach().T  # nn.Linear stores (out, in): → (in, out)  # noqa: E731
    D = a.o_proj.weight.shape[1] // H
    attn = AttentionWeights(
        _heads_in(lin(a.q_proj), H),
        _heads_in(lin(a.k_proj), Hkv),
        _heads_in(lin(a.v_proj), Hkv),
        lin(a.o_proj).reshape(H, D, -1),  # (H·D, C) → (H, D, C)
        _bias(a.q_proj.bias, H),
        _bias(a.k_proj.bias, Hkv),
        _bias(a.v_proj.bias, Hkv),
        a.o_proj.bias.detach() if a.o_proj.bias is not None else None,
    )
    mlp = MLPWeights(lin(m.up_proj), lin(m.gate_proj), lin(m.down_proj), None, None, m.act_fn)
    norm2 = getattr(layer, "pre_feedforward_layernorm", None) or layer.post_attention_layernorm
    return BlockWeights(attn, norm_weights(layer.input_layernorm), norm_weights(norm2), mlp)


def _gpt2_block(layer: nn.Module, H: int) -> BlockWeights:
    a, m = layer.attn, layer.mlp
    w = a.c_attn.weight.detach()  # Conv1D stores (in, out): (C, 3·C)
    C = w.shape[0]
    wq, wk, wv = w.split(C, dim=1)
    bq, bk, bv = a.c_attn.bias.detach().split(C)
    attn = AttentionWeights(
        _heads_in(wq, H),
        _heads_in(wk, H),
        _heads_in(wv, H),
        a.c_proj.weight.detach().reshape(H, C // H, C),  # (H·D, C) → (H, D, C)
        _bias(bq, H),
        _bias(bk, H),
        _bias(bv, H),
        a.c_proj.bias.detach(),
    )
    mlp = MLPWeights(
        m.c_fc.weight.detach(), None, m.c_proj.weight.detach(), m.c_fc.bias.detach(), m.c_proj.bias.detach(), m.act
    )
    return BlockWeights(attn, norm_weights(layer.ln_1), norm_weights(layer.ln_2), mlp)


def block_weights(layer: nn.Module, num_heads: int, num_kv_heads: int) -> BlockWeights:
    """One decoder layer's weights in xviz's layout; an InputError for a family this view does not cover."""
    if hasattr(layer, "self_attn") and hasattr(layer.self_attn, "q_proj") and hasattr(layer.mlp, "gate_proj"):
        return _llama_block(layer, num_heads, num_kv_heads)
    if hasattr(layer, "attn") and hasattr(layer.attn, "c_attn"):
        return _gpt2_block(layer, num_heads)
    raise InputError(
        "The weight view covers Llama-layout (q/k/v/o_proj + gated MLP) and GPT-2 decoders, "
        f"not {type(layer).__name__}."
    )
