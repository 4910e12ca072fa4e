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


def _holds_attention(m: nn.Module) -> bool:
    return any(_is_attention(x) for x in m.modules())


def _split_layer_path(model: nn.Module, path: str) -> tuple[str, tuple[int, ...], str, str] | None:
    """ "model.layers.3.self_attn" -> ("model.layers", (3,), "model.layers.3", "self_attn") where model.layers is
    a ModuleList; the outermost list wins (T5: encoder.block.3.layer.0.SelfAttention is block 3, not sub-layer 0),
    unless every element of a list inside it holds attention: those are blocks grouped in stages (Swin:
    encoder.layers.1.blocks.0.attention → ("encoder.layers.*.blocks", (1, 0), …, "attention"), one stack over
    all stages, numbered in order)."""
    parts = path.split(".")
    lists = [
        j
        for j in range(1, len(parts))
        if parts[j].isdigit() and isinstance(model.get_submodule(".".join(parts[:j])), nn.ModuleList)
    ]
    if not lists:
        return None
    chosen = [lists[0]]
    for j in lists[1:]:
        inner = model.get_submodule(".".join(parts[:j]))
        if all(_holds_attention(m) for m in inner):
            chosen.append(j)
    last = chosen[-1]
    key = ".".join("*" if k in chosen[:-1] else p for k, p in enumerate(parts[:last]))
    return key, tuple(int(parts[j]) for j in chosen), ".".join(parts[: last + 1]), ".".join(parts[last + 1 :])


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
    stacks: dict[str, dict[tuple[int, ...], BlockSpec]] = {}
    for path, m in _deepest_attention(model):
        where = _split_layer_path(model, path)
        if where is None:
            continue
        list_path, idx, layer_path, rel = where
        blocks = stacks.setdefault(list_path, {})
        spec = blocks.setdefault(idx, BlockSpec(0, model.get_submodule(layer_path)))
        if _CROSS.search(rel) or _CROSS.search(type(m).__name__):
            spec.cross_attn = m
        elif spec.attn is None:
            spec.attn = m
    prefixes = _prefixes(list(stacks), encoder_decoder)
    out = []
    for list_path, blocks in stacks.items():
        ordered = [blocks[k] for k in sorted(blocks)]
        for i, b in enumerate(ordered):
            b.index = i
            b.norm1, b.norm2 = _find_norm(b.layer, NORM1_PATHS), _find_norm(b.layer, NORM2_PATHS)
        out.append(StackSpec(prefixes[list_path], list_path, ordered))
    return out


def prefix_labels(module: nn.Module) -> tuple[str, ...]:
    """Labels of the tokens before the patches, read from the embedding parameters: CLS (`cls_token`, CLIP's
    `class_embedding`), DeiT's `distillation_token`, DINOv2's `register_tokens` (1, R, C). SigLIP has none."""
    leaves: dict[str, nn.Parameter] = {}
    for n, p in module.named_parameters():
        leaves.setdefault(n.rsplit(".", 1)[-1], p)
    labels = ["CLS"] if {"cls_token", "class_embedding"} & set(leaves) else []
    labels += ["DIST"] if "distillation_token" in leaves else []
    if "register_tokens" in leaves:
        labels += [f"reg{i}" for i in range(leaves["register_tokens"].shape[1])]
    return tuple(labels)


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
