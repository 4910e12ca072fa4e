"""Find, in any Hugging Face model, what the xviz hook schema names: block stacks, attention modules, norms.

nnsight-style: nothing is forked or rewritten; we walk `named_modules()` once at load and map HF module paths to
xviz names (`blocks.{i}.attn`, `decoder.blocks.{i}.cross_attn`, `blocks.{i}.norm1`, …).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

from torch import nn

# The LayerNorm/RMSNorm in front of (pre-LN) or after (post-LN) each sub-layer, by HF attribute path, in
# priority order (Gemma 2's pre_feedforward_layernorm is the MLP's input norm; its post_attention_layernorm
# normalises the attention output before the residual add).
NORM1_PATHS = (
    "input_layernorm",
    "ln_1",
    "layer_norm1",
    "layernorm_before",
    "self_attn_layer_norm",
    "attention.output.LayerNorm",
    "attention_norm",
    "norm1",
    "layer.0.layer_norm",
)
NORM2_PATHS = (
    "pre_feedforward_layernorm",
    "post_attention_layernorm",
    "ln_2",
    "layer_norm2",
    "layernorm_after",
    "final_layer_norm",
    "output.LayerNorm",
    "ffn_norm",
    "norm2",
    "layer.2.layer_norm",
    "layer.1.layer_norm",
)  # T5: decoder FF is sub-layer 2, encoder FF 1
# Post-LN families: the residual stream after attention is the *output* of norm1 (Vaswani / BERT layout).
POST_LN_TYPES = {"bert", "roberta", "xlm-roberta", "camembert", "electra", "bart", "marian", "albert"}
_CROSS = re.compile(r"(cross|encoder_attn|encdec)", re.IGNORECASE)


@dataclass
class BlockSpec:
    index: int
    layer: nn.Module
    attn: nn.Module | None = None
    cross_attn: nn.Module | None = None
    norm1: nn.Module | None = None
    norm2: nn.Module | None = None


@dataclass
class StackSpec:
    prefix: str  # "" | "encoder." | "decoder." | "text." | "vision."
    path: str  # HF module path of the ModuleList
    blocks: list[BlockSpec] = field(default_factory=list)


def _is_attention(m: nn.Module) -> bool:
    name = type(m).__name__
    return name.endswith("Attention") and "Output" not in name


def _deepest_attention(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Attention modules with no attention module inside them (BERT: BertSelfAttention, not BertAttention)."""
    found = [(n, m) for n, m in model.named_modules() if n and _is_attention(m)]
    paths = [n for n, _ in found]
    return [(n, m) for n, m in found if not any(p.startswith(n + ".") for p in paths)]


def _split_layer_path(model: nn.Module, path: str) -> tuple[str, int, str] | None:
    """ "model.layers.3.self_attn" -> ("model.layers", 3, "self_attn") where model.layers is a ModuleList; the
    outermost list wins (T5: encoder.block.3.layer.0.SelfAttention is block 3, not sub-layer 0)."""
    parts = path.split(".")
    for j in range(1, len(parts)):
        if parts[j].isdigit():
            parent = model.get_submodule(".".join(parts[:j]))
            if isinstance(parent, nn.ModuleList):
                return ".".join(parts[:j]), int(parts[j]), ".".join(parts[j + 1 :])
    return None


def _prefixes(paths: list[str], encoder_decoder: bool) -> dict[str, str]:
    if len(paths) == 1:
        return {paths[0]: ""}
    out = {}
    for p in paths:
        if encoder_decoder and ("decoder" in p or "encoder" in p):
            out[p] = "decoder." if "decoder" in p else "encoder."
        else:  # CLIP: text_model.encoder.layers -> "text."
            out[p] = p.split(".")[0].removesuffix("_model") + "."
    return out


def _find_norm(layer: nn.Module, candidates: tuple[str, ...]) -> nn.Module | None:
    for c in candidates:
        try:
            m = layer.get_submodule(c)
        except AttributeError:
            continue
        if "norm" in type(m).__name__.lower():
            return m
    return None


def find_stacks(model: nn.Module, encoder_decoder: bool = False) -> list[StackSpec]:
    """Every block stack of the model, in module order, with each block's attention modules and norms."""
    stacks: dict[str, dict[int, BlockSpec]] = {}
    for path, m in _deepest_attention(model):
        where = _split_layer_path(model, path)
        if where is None:
            continue
        list_path, i, rel = where
        blocks = stacks.setdefault(list_path, {})
        spec = blocks.setdefault(i, BlockSpec(i, model.get_submodule(list_path)[i]))
        if _CROSS.search(rel) or _CROSS.search(type(m).__name__):
            spec.cross_attn = m
        elif spec.attn is None:
            spec.attn = m
    prefixes = _prefixes(list(stacks), encoder_decoder)
    out = []
    for list_path, blocks in stacks.items():
        stack = StackSpec(prefixes[list_path], list_path, [blocks[i] for i in sorted(blocks)])
        for b in stack.blocks:
            b.norm1, b.norm2 = _find_norm(b.layer, NORM1_PATHS), _find_norm(b.layer, NORM2_PATHS)
        out.append(stack)
    return out


def uses_attention_interface(specs: list[StackSpec]) -> bool:
    """True when every attention module calls transformers' attention interface (read from its forward's source:
    a class-level flag such as `_supports_attention_backend` is not kept up to date by every architecture)."""

    mods = [m for s in specs for b in s.blocks for m in (b.attn, b.cross_attn) if m is not None]
    try:
        return bool(mods) and all("ALL_ATTENTION_FUNCTIONS" in inspect.getsource(type(m).forward) for m in mods)
    except (OSError, TypeError):
        return False


def final_norm(model: nn.Module) -> nn.Module | None:
    """The norm between the last block and the unembedding (Llama `model.norm`, GPT-2 `transformer.ln_f`)."""
    base = getattr(model, "base_model", model)
    norms = [m for n, m in base.named_children() if "norm" in type(m).__name__.lower()]
    return norms[-1] if norms else None
