"""The model contract: what every xviz model, and the Hugging Face adapter, offers the pages.

Pages read these attributes and nothing else: no `getattr(model, ..., default)`, no padding inferred from token
strings (a prepared batch carries its `attention_mask` and `special` flags).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from xviz.hooks import hook_names as _hook_names

# "lm": causal language model with a head; "mixer": the non-attention token mixers of the Token-mixers page
Kind = Literal["text", "lm", "seq2seq", "image", "mae", "swin", "mixer", "multimodal"]


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
    "multimodal": KindInfo(lists=("multimodal",)),
}


@runtime_checkable
class XvizModel(Protocol):
    kind: Kind
    name: str  # what load_model was given (registry name, folder, hf:<id>)

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

    def prepare(self, inputs: Any, **kwargs: Any) -> dict: ...  # model(**batch); text batches carry .tokens

    def decode(self, ids: list[int]) -> list[str]: ...  # token strings for ids ([] for image models)

    def hook_names(self) -> list[str]: ...


class ContractMixin:
    """Defaults for xviz's own models, derived from their config (`cfg.num_layers`, `cfg.num_heads`,
    `cfg.hidden_size`: every xviz config uses one vocabulary of field names, see tests/unit/test_contract.py)."""

    kind: Kind
    name: str = ""
    is_causal: bool = False

    note: str | None = None  # set by load_model from the zoo entry, or by a factory (dinov2-s14: its fine-tune)

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
