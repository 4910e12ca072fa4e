"""The model contract: what every xviz model, and the Hugging Face adapter, offers the pages.

Pages read these attributes and nothing else: no `getattr(model, ..., default)`, no padding inferred from token
strings (a prepared batch carries its `attention_mask` and `special` flags).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from PIL import Image
from torch import nn

from xviz.errors import InputError
from xviz.hooks import hook_names as _hook_names
from xviz.inputs.batch import Batch
from xviz.inputs.image_batch import ImageBatch

# "lm": causal language model with a head; "mixer": the non-attention token mixers of the Token-mixers page;
# "rnn_seq2seq": the attention-GRU encoder–decoders of the Encoder–decoder page's copy and guided-attention sections
# (no Transformer blocks, another input API: the page's seq2seq picker does not list them, those sections load them);
# "clip": an image tower and a text tower in one embedding space (CLIP, SigLIP)
Kind = Literal["text", "lm", "seq2seq", "image", "mae", "swin", "mixer", "clip", "rnn_seq2seq"]


@dataclass(frozen=True)
class KindInfo:
    """How the app offers models of one kind: the sidebar picker's label (none: no picker), the zoo model it
    starts on, and which kinds that picker lists (a text page takes encoders and causal LMs alike)."""

    label: str = ""
    default: str = ""
    lists: tuple[Kind, ...] = ()
    help: str = ""


KINDS: dict[Kind, KindInfo] = {
    "text": KindInfo(
        "Text model",
        "minilm-l6",
        ("text", "lm"),
        "Encoders (BERT) and causal language models: every text page takes either.",
    ),
    "lm": KindInfo("Language model", "smollm2-135m", ("lm",), "Causal language models (the Language-model page)."),
    "image": KindInfo("Image model", "dinov2-s14", ("image",)),
    "mae": KindInfo("MAE model", "mae-small", ("mae",)),
    "swin": KindInfo("Swin model", "swin-tiny", ("swin",)),
    "seq2seq": KindInfo(default="seq2seq-tiny", lists=("seq2seq",)),
    "mixer": KindInfo(lists=("mixer",)),
    "clip": KindInfo(
        "CLIP model", "clip-shapes", ("clip",), "CLIP / SigLIP: an image and a text tower (the CLIP page)."
    ),
    "rnn_seq2seq": KindInfo(lists=("rnn_seq2seq",)),
}


@runtime_checkable
class XvizModel(Protocol):
    kind: Kind
    name: str  # what load_model was given (registry name, folder, hf:<id>)
    backend: Literal["xviz", "hf"]  # xviz's own implementation, or a Hugging Face model through the adapter

    @property
    def note(self) -> str | None: ...  # one line for the UI (provenance, caveats)

    @property
    def num_layers(self) -> int: ...  # blocks in the (first) stack

    @property
    def num_heads(self) -> int: ...  # query heads per block

    @property
    def hidden_size(self) -> int: ...  # residual width of the (first) stack (Swin: its first stage)

    @property
    def head_dim(self) -> int: ...  # width of one query head, D of q (0 without attention)

    @property
    def num_kv_heads(self) -> int: ...  # key/value heads (== num_heads unless grouped-query attention)

    @property
    def max_positions(self) -> int | None: ...  # longest input in tokens (None: not a token model)

    @property
    def is_causal(self) -> bool: ...  # decoder-only self-attention

    @property
    def device(self) -> torch.device: ...

    @property
    def has_lens(self) -> bool: ...  # `lens` works: a final norm and an unembedding to apply to residual streams

    @property
    def reload_to_copy(self) -> bool: ...  # a copy must be reloaded by name, not deep-copied (adapter models)

    @property
    def is_dispatched(self) -> bool: ...  # spread over devices by accelerate: cannot be moved or copied whole

    def prepare(self, inputs: Any, **kwargs: Any) -> Mapping[str, Any]: ...  # model(**batch)

    def decode(self, ids: list[int]) -> list[str]: ...  # token strings for ids ([] for image models)

    def hook_names(self) -> list[str]: ...


TextInput = str | tuple[str, str] | list[str | tuple[str, str]]  # a text, a pair, or a batch of either


@runtime_checkable
class TextModel(XvizModel, Protocol):
    """kind "text" / "lm": tokenised input whose Batch carries tokens, special flags and a truncation flag."""

    @property
    def eos_token_id(self) -> int | None: ...

    @property
    def bos_token_id(self) -> int | None: ...

    def prepare(self, inputs: TextInput, max_length: int | None = None) -> Batch: ...

    def full_attention_mask(self, mask: torch.Tensor) -> torch.Tensor: ...  # (N, N) bool → the model's mask form


@runtime_checkable
class LanguageModel(TextModel, Protocol):
    """kind "lm": a causal LM with an unembedding."""

    @property
    def vocab_size(self) -> int: ...

    def lens(self, resid: torch.Tensor) -> torch.Tensor: ...  # (…, C) → (…, V): final norm + unembedding


@runtime_checkable
class ImageModel(XvizModel, Protocol):
    """kind "image" / "mae" / "swin": a PIL image in, an ImageBatch (pixels + how they were made) out."""

    def prepare(self, inputs: Image.Image, **kwargs: Any) -> ImageBatch: ...


@runtime_checkable
class ClipModel(XvizModel, Protocol):
    """kind "clip": two towers in one embedding space. Hook names `text.blocks.*` / `vision.blocks.*`; images and
    texts go in as PIL images (or an ImageBatch / pixel tensor) and strings (or a prepared Batch)."""

    text_prefix: str  # "text.": hook-name prefix of the text tower
    vision_prefix: str  # "vision."

    @property
    def is_sigmoid(self) -> bool: ...  # SigLIP: sigmoid per pair (Zhai et al. 2023); CLIP: softmax (Radford et al.)

    @property
    def logit_scale(self) -> float: ...  # exp(t) = 1/τ, the learned multiplier of the cosines

    @property
    def logit_bias(self) -> float | None: ...  # SigLIP's learned b; None for CLIP

    @property
    def has_tokenizer(self) -> bool: ...

    @property
    def text_max_tokens(self) -> int: ...

    @property
    def vision_tower(self) -> ImageModel: ...  # the image tower as an image model (hooks `blocks.*`), shared modules

    def prepare(self, inputs: Any, **kwargs: Any) -> Mapping[str, Any]: ...  # image → ImageBatch, text(s) → Batch

    def text_pool_index(self, batch: Batch) -> list[int]: ...  # per text: the position that becomes its embedding

    def text_embeddings(self, texts: Any, normalize: bool = True) -> torch.Tensor: ...  # (n, E)

    def image_embeddings(self, images: Any, normalize: bool = True) -> torch.Tensor: ...  # (n, E)

    def patch_embeddings(self, images: Any, normalize: bool = True) -> torch.Tensor: ...  # (n, gh·gw, E)

    def image_pooling(self, images: Any) -> torch.Tensor: ...  # (n, N): weight of each last-layer token in the pool

    def label_embeddings(self, labels: list[str], templates: list[str] | None = None) -> torch.Tensor: ...

    def logits(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor: ...  # (n, m)

    def similarity(self, images: Any, texts: Any) -> torch.Tensor: ...  # (n_images, n_texts) logits

    def zero_shot(self, images: Any, labels: list[str], templates: list[str] | None = None) -> torch.Tensor: ...


class ContractMixin:
    """Defaults for xviz's own models, derived from their config (`cfg.num_layers`, `cfg.num_heads`,
    `cfg.hidden_size`: every xviz config uses one vocabulary of field names, see tests/unit/test_contract.py)."""

    kind: Kind
    name: str = ""
    backend = "xviz"
    is_causal: bool = False

    note: str | None = None  # set by load_model from the zoo entry, or by a factory (dinov2-s14: its fine-tune)
    has_lens: bool = False
    reload_to_copy: bool = False
    is_dispatched: bool = False
    eos_token_id: int | None = None
    bos_token_id: int | None = None

    def lens(self, resid: torch.Tensor) -> torch.Tensor:
        raise InputError(f"{self.name or type(self).__name__} is not a language model: it has no logit lens.")

    def full_attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """xviz's own models take an (N, N) bool mask as a (1, N, N) attention_mask."""
        return mask[None].to(self.device)

    @property
    def num_layers(self) -> int:
        return self.cfg.num_layers

    @property
    def num_heads(self) -> int:
        return self.cfg.num_heads

    @property
    def hidden_size(self) -> int:
        return self.cfg.hidden_size

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads if self.num_heads else 0

    @property
    def num_kv_heads(self) -> int:
        return self.num_heads

    @property
    def max_positions(self) -> int | None:
        return None

    def decode(self, ids: list[int]) -> list[str]:
        tok = getattr(self, "tokenizer", None)
        return [tok.id_to_token(int(i)) or "" for i in ids] if tok is not None else []

    def hook_names(self) -> list[str]:
        return _hook_names(self)


# ---- the weights of a decoder in one per-head layout (TransformerLens's convention: x (…, C) @ W) --------------
@dataclass(frozen=True)
class NormWeights:
    kind: str  # "rms" (x / √(mean x² + ε) · w) | "layer" ((x − mean) / √(var + ε) · w + b)
    weight: torch.Tensor  # (C,)
    bias: torch.Tensor | None
    eps: float


@dataclass(frozen=True)
class AttentionWeights:
    W_Q: torch.Tensor  # (H, C, D)
    W_K: torch.Tensor  # (Hkv, C, D)
    W_V: torch.Tensor  # (Hkv, C, D)
    W_O: torch.Tensor  # (H, D, C)
    b_Q: torch.Tensor | None  # (H, D)
    b_K: torch.Tensor | None  # (Hkv, D)
    b_V: torch.Tensor | None  # (Hkv, D)
    b_O: torch.Tensor | None  # (C,)


@dataclass(frozen=True)
class MLPWeights:
    W_in: torch.Tensor  # (C, F): up projection (SwiGLU: the "up" half)
    W_gate: torch.Tensor | None  # (C, F): SwiGLU's gate, None for a plain MLP
    W_out: torch.Tensor  # (F, C)
    b_in: torch.Tensor | None
    b_out: torch.Tensor | None
    act: nn.Module  # the model's own activation module


@dataclass(frozen=True)
class BlockWeights:
    attn: AttentionWeights
    norm1: NormWeights  # before attention (pre-LN)
    norm2: NormWeights  # before the MLP
    mlp: MLPWeights
