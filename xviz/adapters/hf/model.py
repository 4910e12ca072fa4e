"""The Hugging Face adapter: any transformers model whose attention goes through `AttentionInterface` records the
xviz hook schema — q, k, v (per KV head under GQA), scores, probs, z, residual streams, norm in/out and
`hook_logits` — under the same names as xviz's own models, with `encoder.` / `decoder.` / `cross_attn` for
encoder–decoders.

Nothing is added or removed per request: the attention function is registered once per process
(`attention.py`), the forward hooks on layers and norms once at load, and all of them hand tensors to
`HookPoint`s, which record only for the recorder of the current context. With nothing recorded the model runs HF's
fused SDPA path.
"""

from __future__ import annotations

import inspect

import torch
from PIL import Image
from torch import nn

from xviz.adapters.hf.attention import ATTN_HOOKS, AttnHooks
from xviz.adapters.hf.image import ImagePrep, ImagePrepMixin, vision_spec
from xviz.adapters.hf.lm import LMMixin
from xviz.adapters.hf.structure import (
    POST_LN_TYPES,
    StackSpec,
    final_norm,
    find_stacks,
    prefix_labels,
    uses_attention_interface,
)
from xviz.adapters.hf.text import TextPrepMixin
from xviz.errors import InputError, ModelLoadError
from xviz.hooks import HookPoint, hook_names
from xviz.inputs.image import LoadedImage


class NormHooks(nn.Module):
    def __init__(self):
        super().__init__()
        self.hook_in, self.hook_out = HookPoint(), HookPoint()


class BlockHooks(nn.Module):
    """blocks.{i}: attn / cross_attn hooks, hook_resid_pre|mid|post, norm1 / norm2 hook_in|hook_out."""

    def __init__(self, cross: bool, norms: tuple[bool, bool]):
        super().__init__()
        self.attn = AttnHooks()
        if cross:
            self.cross_attn = AttnHooks()
        self.hook_resid_pre, self.hook_resid_mid, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        if norms[0]:
            self.norm1 = NormHooks()
        if norms[1]:
            self.norm2 = NormHooks()


def _first_tensor(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def _replace_first(x, new):
    return (new, *x[1:]) if isinstance(x, tuple) else new


def _pre_hook(point: HookPoint):
    """Forward pre-hook: the module's input hidden states go through `point` (which may edit them)."""

    def hook(module, args, kwargs):
        if args:
            x = point(args[0])
            return (x, *args[1:]), kwargs
        if "hidden_states" in kwargs:
            kwargs["hidden_states"] = point(kwargs["hidden_states"])
            return args, kwargs
        return None

    return hook


def _post_hook(*points: HookPoint):
    def hook(module, args, output):
        x = _first_tensor(output)
        for p in points:
            x = p(x)
        return _replace_first(output, x)

    return hook


def vision_module(hf_model: nn.Module) -> nn.Module | None:
    """The image tower of a CLIP-like model (`vision_model`), else the model itself."""
    return getattr(hf_model, "vision_model", None) or hf_model


def is_image_input(x) -> bool:
    return isinstance(x, (Image.Image, LoadedImage))


class HFModel(LMMixin, TextPrepMixin, ImagePrepMixin, nn.Module):
    """A transformers model seen through xviz's hook schema and model contract. `hf_model` is the HF module."""

    backend = "hf"

    def __init__(
        self,
        hf_model: nn.Module,
        tokenizer=None,
        kind: str = "text",
        name: str = "",
        note: str | None = None,
        image_prep: ImagePrep | None = None,
    ):
        super().__init__()
        self.hf_model, self.tokenizer, self.kind, self.name = hf_model, tokenizer, kind, name
        self.note = note
        cfg = hf_model.config
        self.model_type = cfg.model_type
        self.image_prep = image_prep
        self.vision_spec = vision_spec(cfg, prefix_labels(vision_module(hf_model))) if image_prep is not None else None
        self.stacks = find_stacks(hf_model, bool(getattr(cfg, "is_encoder_decoder", False)))
        if not self.stacks:
            raise ModelLoadError(f"Found no attention layers in this {cfg.model_type} model.")
        self.records_attention = uses_attention_interface(self.stacks)
        for stack in self.stacks:
            self._attach(stack)
        self.hook_logits = HookPoint()
        self._final_norm = final_norm(hf_model)

    def _attach(self, stack: StackSpec) -> None:
        """Hook containers named like xviz's own models, and the load-time forward hooks that feed them."""
        holder = nn.ModuleList()
        post_ln = self.model_type in POST_LN_TYPES
        for b in stack.blocks:
            h = BlockHooks(b.cross_attn is not None, (b.norm1 is not None, b.norm2 is not None))
            holder.append(h)
            if b.attn is not None:
                ATTN_HOOKS[b.attn] = h.attn
            if b.cross_attn is not None:
                ATTN_HOOKS[b.cross_attn] = h.cross_attn
            b.layer.register_forward_pre_hook(_pre_hook(h.hook_resid_pre), with_kwargs=True)
            b.layer.register_forward_hook(_post_hook(h.hook_resid_post))
            for norm, hooks, mid_after in (
                (b.norm1, getattr(h, "norm1", None), post_ln),
                (b.norm2, getattr(h, "norm2", None), False),
            ):
                if norm is None:
                    continue
                norm.register_forward_pre_hook(_pre_hook(hooks.hook_in), with_kwargs=True)
                outs = (hooks.hook_out, h.hook_resid_mid) if mid_after else (hooks.hook_out,)
                norm.register_forward_hook(_post_hook(*outs))
            if not post_ln and b.norm2 is not None:  # pre-LN: the stream entering the MLP's norm
                b.norm2.register_forward_pre_hook(_pre_hook(h.hook_resid_mid), with_kwargs=True)
        if stack.prefix:
            parent = self.get_submodule(stack.prefix[:-1]) if hasattr(self, stack.prefix[:-1]) else None
            if parent is None:
                parent = nn.Module()
                self.add_module(stack.prefix[:-1], parent)
            parent.add_module("blocks", holder)
        else:
            self.blocks = holder

    # -- the model contract -----------------------------------------------------------------------------
    @property
    def config(self):
        return self.hf_model.config

    def _text_config(self):
        cfg = self.hf_model.config
        return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    @property
    def num_layers(self) -> int:
        return len(self.stacks[-1].blocks) if self.kind == "seq2seq" else len(self.stacks[0].blocks)

    @property
    def num_heads(self) -> int:
        """Query heads per block (hierarchical vision configs list one per stage: the first stage's, the fewest)."""
        heads = self._text_config().num_attention_heads
        return int(min(heads)) if isinstance(heads, (list, tuple)) else int(heads)

    @property
    def hidden_size(self) -> int:
        """The text config's width (multimodal: the text tower's); HF's attribute_map covers d_model / n_embd.
        Hierarchical vision configs (swin: hidden_size is the last stage's) give their first stage, embed_dim."""
        cfg = self._text_config()
        return int(cfg.embed_dim if hasattr(cfg, "depths") and hasattr(cfg, "embed_dim") else cfg.hidden_size)

    @property
    def head_dim(self) -> int:
        """hidden_size / num_heads, unless the config declares its own (Gemma: wider heads than that)."""
        explicit = getattr(self._text_config(), "head_dim", None)
        return explicit if isinstance(explicit, int) and explicit > 0 else self.hidden_size // max(self.num_heads, 1)

    @property
    def num_kv_heads(self) -> int:
        cfg = self._text_config()
        return int(getattr(cfg, "num_key_value_heads", None) or self.num_heads)

    @property
    def max_positions(self) -> int | None:
        return getattr(self._text_config(), "max_position_embeddings", None)

    @property
    def is_causal(self) -> bool:
        return self.kind == "lm"

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    def hook_names(self) -> list[str]:
        names = hook_names(self)
        return names if self.records_attention else [n for n in names if ".attn." not in n and ".cross_attn." not in n]

    # -- input ------------------------------------------------------------------------------------------
    def prepare(self, inputs, **kwargs):
        """An image (PIL / LoadedImage) → ImageBatch (image models, CLIP); text → Batch (see prepare_text)."""
        if is_image_input(inputs):
            return self.prepare_image(inputs, **kwargs)
        if self.kind == "image":
            raise InputError(f"{self.name or self.model_type} is an image model: give it a picture (PIL image).")
        return self.prepare_text(inputs, **kwargs)

    # -- running ----------------------------------------------------------------------------------------
    def forward(self, **inputs):
        """The HF forward (any of its keyword inputs); `hook_logits` sees the final logits (B, N, V)."""
        inputs = {k: v for k, v in inputs.items() if k in self._forward_keys()}
        out = self.hf_model(**inputs)
        logits = getattr(out, "logits", None)
        if isinstance(logits, torch.Tensor):
            self.hook_logits(logits)
        return out

    def _forward_keys(self) -> set[str]:
        """The HF forward's named inputs (a Batch may carry keys another architecture does not take)."""
        if not hasattr(self, "_keys"):
            params = inspect.signature(self.hf_model.forward).parameters
            self._keys = set(params) | {
                "use_cache",
                "past_key_values",
                "output_attentions",
                "output_hidden_states",
                "return_dict",
            }
        return self._keys
