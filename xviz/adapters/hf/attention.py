"""xviz's attention function for Hugging Face models, registered once as `attn_implementation="xviz"`.

transformers calls one attention function per attention module (its `AttentionInterface`) with q, k, v after
the projections, RoPE and the KV cache, and one mask function per forward (`AttentionMaskInterface`). Ours looks
up the xviz hook points of the calling module (registered at load by `models/hf.py`) and:
- when the context's recorder wants scores or probabilities (or HF asks for `output_attentions`): computes
  QKᵀ·scale (→ soft-cap → + bias) → mask → softmax(float32) → ·V explicitly, the math of HF's eager function, and
  hands every intermediate to the hook points;
- otherwise: runs HF's own SDPA function (the fused path), touching only the hook points that are active.
Under grouped-query attention k and v stay per KV head (B, Hkv, Nk, D) at hook_k / hook_v; the repeat to the
query heads (Ainslie et al. 2023) happens after.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from xviz.hooks import HookPoint, lazy_attention
from xviz.layers import masks
from xviz.lazy_attention import AttentionSource

NAME = "xviz"


class AttnHooks(nn.Module):
    """The hook points of one attention module: q, k, v, scores, probs, z (the hook schema, docs/ARCHITECTURE.md)."""

    def __init__(self):
        super().__init__()
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_scores, self.hook_probs, self.hook_z = HookPoint(), HookPoint(), HookPoint()

    def explicit_wanted(self) -> bool:
        return self.hook_scores.active() or self.hook_probs.active()


# HF attention module -> its xviz hooks. Filled once at load; weak, so a dropped model frees its entry.
ATTN_HOOKS: weakref.WeakKeyDictionary[nn.Module, AttnHooks] = weakref.WeakKeyDictionary()


_UNNAMED = AttnHooks()  # hook points no recorder can name: they record nothing


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, Hkv, N, D) -> (B, Hkv·n_rep, N, D): each KV head serves n_rep consecutive query heads."""
    if n_rep == 1:
        return x
    B, Hkv, N, D = x.shape
    return x[:, :, None].expand(B, Hkv, n_rep, N, D).reshape(B, Hkv * n_rep, N, D)


def hooked_eager_attention(
    hooks: AttnHooks,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float,
    softcap: float | None = None,
    position_bias: torch.Tensor | None = None,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """HF eager attention with hook points: returns z (B, H, Nq, D) and probs (B, H, Nq, Nk)."""
    n_rep = q.shape[1] // k.shape[1]
    k_rep, v_rep = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, H, Nk, D)
    scores = (q @ k_rep.transpose(-2, -1)) * scaling  # (B, H, Nq, Nk)
    if softcap is not None:  # Gemma 2: softcap·tanh(s / softcap)
        scores = torch.tanh(scores / softcap) * softcap
    if position_bias is not None:
        scores = scores + position_bias
    if mask is None and is_causal and q.shape[2] > 1:
        mask = masks.causal(q.shape[2], k.shape[2], q.device)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)  # one pass (masked_fill: two)
        else:  # an additive float mask (0 / min), as some models build their own
            scores = scores + mask
    scores = hooks.hook_scores(scores)
    probs = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)  # HF eager upcasts the softmax
    probs = hooks.hook_probs(probs)
    return probs @ v_rep, probs  # (B, H, Nq, D)


def xviz_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The function transformers calls: returns (attn_output (B, Nq, H, D), probs or None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward  # noqa: PLC0415  (heavy import; only the adapter needs it)

    hooks = ATTN_HOOKS.get(module)
    scaling = scaling if scaling is not None else query.shape[-1] ** -0.5
    softcap = kwargs.get("softcap")
    if hooks is None:  # a model loaded with "xviz" outside the adapter: plain HF behaviour
        hooks = _UNNAMED
    query, key, value = hooks.hook_q(query), hooks.hook_k(key), hooks.hook_v(value)
    is_causal = kwargs.get("is_causal")
    is_causal = bool(getattr(module, "is_causal", False) if is_causal is None else is_causal)
    shape = (query.shape[0], query.shape[1], query.shape[2], key.shape[2])
    keep = None if kwargs.get("output_attentions") else lazy_attention(hooks.hook_scores, hooks.hook_probs, shape)
    if keep is not None:  # attention kept on demand: what it is computed from, not the N² maps
        bias = kwargs.get("position_bias")
        keep(AttentionSource(query, key, attention_mask, bias, scaling, softcap, is_causal and attention_mask is None))
    if keep is None and (hooks.explicit_wanted() or kwargs.get("output_attentions")) or softcap is not None:
        z, probs = hooked_eager_attention(
            _UNNAMED if keep is not None else hooks,  # on demand: the maps are computed, not handed to the hooks
            query,
            key,
            value,
            attention_mask,
            scaling,
            softcap,
            kwargs.get("position_bias"),
            is_causal,
        )
        z = hooks.hook_z(z)
        return z.transpose(1, 2).contiguous(), (None if keep is not None else probs)  # (B, Nq, H, D)
    out, _ = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )  # (B, Nq, H, D)
    if hooks.hook_z.active():
        out = hooks.hook_z(out.transpose(1, 2)).transpose(1, 2).contiguous()
    return out, None


_registered = False


def register_xviz_attention() -> str:
    """Register the function and the mask once per process; returns the implementation name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface  # noqa: PLC0415  (heavy import; only the adapter needs it)
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask  # noqa: PLC0415  (heavy import; only the adapter needs it)

        AttentionInterface.register(NAME, xviz_attention)
        # HF's SDPA mask, with its skip (None) when purely causal: SDPA then runs its causal kernel (a bool mask costs
        # 1.5× at 4k tokens on a CPU), the explicit path rebuilds the mask (`masks.causal`), a lazy source records
        # causal=True instead of N² booleans
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _registered = True
    return NAME
