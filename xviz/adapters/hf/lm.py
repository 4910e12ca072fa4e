"""What an adapter model offers beyond the attention schema, through the contract: its special tokens, the logit
lens, the weights in xviz's per-head layout (`weights.py`), and generation."""

from __future__ import annotations

import torch
from torch import nn

from xviz.adapters.hf.weights import block_weights, norm_weights
from xviz.errors import ModelLoadError
from xviz.models.contract import BlockWeights, NormWeights


def _first(x) -> int | None:
    x = x[0] if isinstance(x, (list, tuple)) and x else x
    return int(x) if isinstance(x, int) and not isinstance(x, bool) else None


class LMMixin:
    """Mixed into HFModel; reads `hf_model`, `stacks`, `_final_norm`, `_text_config()` of the adapter."""

    hf_model: nn.Module

    @property
    def eos_token_id(self) -> int | None:
        return _first(getattr(self.hf_model.config, "eos_token_id", None))

    @property
    def bos_token_id(self) -> int | None:
        return _first(getattr(self.hf_model.config, "bos_token_id", None))

    @property
    def vocab_size(self) -> int:
        return int(self._text_config().vocab_size)

    @property
    def has_lens(self) -> bool:
        """Whether `lens` works: an unembedding and a final norm to apply to residual streams."""
        return self.hf_model.get_output_embeddings() is not None and self._final_norm is not None

    def lens(self, resid: torch.Tensor) -> torch.Tensor:
        """Logit lens (nostalgebraist 2020): final norm + unembedding (+ Gemma's logit soft-cap) on a residual
        stream (…, C) → (…, V). On the last block's hook_resid_post it equals the model's logits."""
        if not self.has_lens:
            raise ModelLoadError(f"{self.name or self.model_type} has no unembedding: the logit lens needs an LM.")
        logits = self.hf_model.get_output_embeddings()(self._final_norm(resid.to(self.device)))
        cap = getattr(self._text_config(), "final_logit_softcapping", None)
        return torch.tanh(logits / cap) * cap if cap else logits

    # -- weights in xviz's layout (weights.py) ------------------------------------------------------------
    def block_weights(self, layer: int) -> BlockWeights:
        return block_weights(self.stacks[0].blocks[layer].layer, self.num_heads, self.num_kv_heads)

    def final_norm_weights(self) -> NormWeights | None:
        return norm_weights(self._final_norm) if self._final_norm is not None else None

    def embedding_weights(self) -> torch.Tensor:
        """W_E (V, C): the token embedding table."""
        return self.hf_model.get_input_embeddings().weight.detach()

    def unembedding_weights(self) -> torch.Tensor:
        """W_U (C, V): the unembedding (tied or not); its bias, if any, is not included."""
        head = self.hf_model.get_output_embeddings()
        if head is None:
            raise ModelLoadError(f"{self.name or self.model_type} has no unembedding.")
        return head.weight.detach().T

    @property
    def rope_base(self) -> float | None:
        """θ of the rotary position embedding (None: the model has no RoPE); only plain RoPE is described."""
        cfg = self._text_config()
        rp = getattr(cfg, "rope_parameters", None) or {}
        base = rp.get("rope_theta", getattr(cfg, "rope_theta", None))
        return float(base) if base is not None and rp.get("rope_type", "default") == "default" else None

    # -- running ------------------------------------------------------------------------------------------
    def generate(self, **kwargs) -> torch.Tensor:
        """HF's own generate on its fused path (nothing recorded)."""
        with torch.no_grad():
            return self.hf_model.generate(**kwargs)

    def full_attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """An (N, N) bool mask (True = may attend) as HF takes a custom mask: (1, 1, N, N)."""
        return mask[None, None].to(self.device)

    # deep-copying an adapter model would copy hooks bound to the original modules: reload it by name instead
    reload_to_copy = True

    @property
    def is_dispatched(self) -> bool:
        """Spread over devices or offloaded by accelerate (device_map): it cannot be moved or copied whole."""
        return bool(getattr(self.hf_model, "hf_device_map", None))
