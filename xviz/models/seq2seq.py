"""A small encoder–decoder in the layout of Vaswani et al. 2017 ("Attention Is All You Need", §3), for xviz.

Encoder: character embedding · √C + sinusoidal positions (§3.4–3.5) → `encoder.blocks` (bidirectional
self-attention, source padding masked) → final LayerNorm = the memory. Decoder: `decoder.blocks`, each masked
(causal) self-attention → cross-attention (queries from the decoder, keys/values from the memory; only source
padding masked) → MLP; final LayerNorm; output projection tied to the embedding (§3.4). Pre-LN (Xiong et al.
2020) instead of the paper's post-LN: it trains in minutes on a CPU without warm-up tuning; `norm_position`
switches back.

NAT (Gu et al. 2018, non-autoregressive): a length head on the mean-pooled memory predicts the target length T;
`nat_decoder` then reads, for every target position t < T at once, sinusoid(t) + a learned embedding of T
(positions only, no copied source: every bit of content has to come through cross-attention, which is what the
page shows; the length embedding tells position t how far it is from the end, which reversal needs). Its
self-attention masks only positions ≥ T (no causal mask). Both decoders share the encoder and the embedding.
Registry name `seq2seq-tiny`; decoding (greedy / beam / sample / NAT, step traces) in seq2seq_decode.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from xviz.data import seq2seq_tasks as tasks
from xviz.errors import InputError
from xviz.hooks import HookPoint
from xviz.layers import masks
from xviz.layers.attention import Attention
from xviz.layers.block import MLP, Block, HookedLayerNorm
from xviz.layers.pos_embed import sinusoidal
from xviz.models._checkpoint import load_with_config, save_with_config
from xviz.models.contract import ContractMixin
from xviz.models.seq2seq_decode import generate_ids


@dataclass(frozen=True)
class Seq2SeqConfig:
    vocab_size: int = len(tasks.VOCAB)
    hidden_size: int = 128  # shared by the encoder and both decoders
    num_heads: int = 4
    num_layers: int = 2  # encoder blocks
    decoder_layers: int = 2  # decoder blocks (AT and NAT each)
    mlp_hidden: int = 512
    max_source: int = 48  # task token + characters
    max_target: int = 32  # <bos> + characters (+ <eos> predicted)
    norm_position: str = "pre"
    layer_norm_eps: float = 1e-5

    def to_json(self) -> dict:
        return asdict(self)


class DecoderBlock(nn.Module):
    """Self-attention (norm1) → cross-attention (norm_cross) → MLP (norm2), each with a residual.
    Hooks: hook_resid_pre, hook_resid_mid (after self-attn), hook_resid_cross (after cross-attn), hook_resid_post."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        C = cfg.hidden_size
        self.pre = cfg.norm_position == "pre"
        self.norm1, self.norm_cross, self.norm2 = (HookedLayerNorm(C, cfg.layer_norm_eps) for _ in range(3))
        self.attn = Attention(C, cfg.num_heads)
        self.cross_attn = Attention(C, cfg.num_heads)  # q from x, k/v from the encoder (kv=)
        self.mlp = MLP(C, cfg.mlp_hidden)
        self.hook_resid_pre, self.hook_resid_mid = HookPoint(), HookPoint()
        self.hook_resid_cross, self.hook_resid_post = HookPoint(), HookPoint()

    def _sub(self, x, norm, fn):
        return x + fn(norm(x)) if self.pre else norm(x + fn(x))

    def forward(self, x, memory, self_mask, cross_mask):
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(self._sub(x, self.norm1, lambda h: self.attn(h, self_mask)))
        x = self.hook_resid_cross(self._sub(x, self.norm_cross, lambda h: self.cross_attn(h, cross_mask, kv=memory)))
        return self.hook_resid_post(self._sub(x, self.norm2, self.mlp))


class Stack(nn.Module):
    """A named stack (`encoder` / `decoder` / `nat_decoder`): blocks + final norm (pre-LN) + output hook."""

    def __init__(self, blocks: list[nn.Module], cfg: Seq2SeqConfig):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        pre = cfg.norm_position == "pre"
        self.norm = HookedLayerNorm(cfg.hidden_size, cfg.layer_norm_eps) if pre else nn.Identity()
        self.hook_out = HookPoint()


@dataclass
class Seq2SeqOutput:
    logits: torch.Tensor  # (B, Nt, V) next-token logits (AT) or per-position logits (NAT)
    length_logits: torch.Tensor  # (B, max_target) logits of the target length in characters
    memory: torch.Tensor  # (B, Ns, C) encoder output


class Seq2Seq(ContractMixin, nn.Module):
    kind = "seq2seq"
    is_causal = False

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.hidden_size
        self.embed = nn.Embedding(cfg.vocab_size, C, padding_idx=tasks.PAD)
        nn.init.normal_(self.embed.weight, std=C**-0.5)  # ·√C at the input → unit scale; tied output small
        enc = [
            Block(C, cfg.num_heads, mlp_hidden=cfg.mlp_hidden, norm_position=cfg.norm_position, eps=cfg.layer_norm_eps)
            for _ in range(cfg.num_layers)
        ]
        self.encoder = Stack(enc, cfg)
        self.decoder = Stack([DecoderBlock(cfg) for _ in range(cfg.decoder_layers)], cfg)
        self.nat_decoder = Stack([DecoderBlock(cfg) for _ in range(cfg.decoder_layers)], cfg)
        self.length_head = nn.Linear(C, cfg.max_target)  # class k = a target of k characters
        self.length_embed = nn.Embedding(cfg.max_target, C)
        n = max(cfg.max_source, cfg.max_target)
        self.register_buffer("pos", sinusoidal(n, C), persistent=False)  # (n, C) fixed, from the config
        self.hook_src_embed, self.hook_tgt_embed, self.hook_logits = HookPoint(), HookPoint(), HookPoint()
        self.hook_length_logits = HookPoint()

    # -- contract -----------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    @property
    def max_positions(self) -> int:
        return self.cfg.max_source

    def decode(self, ids) -> list[str]:
        return [tasks.VOCAB[int(i)] if 0 <= int(i) < len(tasks.VOCAB) else "" for i in ids]

    # -- pieces -------------------------------------------------------------------------------------------
    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        N = ids.shape[1]
        return self.embed(ids) * self.cfg.hidden_size**0.5 + self.pos[:N]  # (B, N, C), Vaswani §3.4

    def encode(self, src_ids: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """src_ids, src_mask (B, Ns) → memory (B, Ns, C). Padding keys masked for every query."""
        key_ok = src_mask.bool()[:, None, None, :]  # (B, 1, 1, Ns)
        x = self.hook_src_embed(self._embed(src_ids))
        for block in self.encoder.blocks:
            x = block(x, key_ok)
        return self.encoder.hook_out(self.encoder.norm(x))

    def _run_decoder(self, stack: Stack, x, memory, self_mask, src_mask) -> torch.Tensor:
        cross = src_mask.bool()[:, None, None, :]  # (B, 1, 1, Ns): padding only
        for block in stack.blocks:
            x = block(x, memory, self_mask, cross)
        x = stack.hook_out(stack.norm(x))
        return self.hook_logits(x @ self.embed.weight.T)  # (B, Nt, V), tied output

    def decode_at(self, tgt_ids, memory, src_mask) -> torch.Tensor:
        """Teacher-forced / prefix pass of the autoregressive decoder. tgt_ids (B, Nt) starts with <bos>."""
        Nt = tgt_ids.shape[1]
        if Nt > self.cfg.max_target:
            raise InputError(f"A target of {Nt} tokens exceeds the model's {self.cfg.max_target}.")
        causal = masks.causal(Nt, device=tgt_ids.device)  # (Nt, Nt)
        x = self.hook_tgt_embed(self._embed(tgt_ids))
        return self._run_decoder(self.decoder, x, memory, causal[None, None], src_mask)

    def length_logits(self, memory, src_mask) -> torch.Tensor:
        m = src_mask.to(memory.dtype)[..., None]  # (B, Ns, 1)
        pooled = (memory * m).sum(1) / m.sum(1).clamp(min=1)  # (B, C) mean over real positions
        return self.hook_length_logits(self.length_head(pooled))  # (B, max_target)

    def decode_nat(self, tgt_len: torch.Tensor, memory, src_mask) -> torch.Tensor:
        """All positions at once: input sinusoid(t) + embed(T); self-attention over positions < T (no causal
        mask). tgt_len (B,) = T characters (no <eos>: the length says where to stop) → logits (B, max(T), V)."""
        B, N = tgt_len.shape[0], int(tgt_len.max())
        t = torch.arange(N, device=tgt_len.device)
        valid = t[None, :] < tgt_len[:, None]  # (B, N)
        x = self.pos[:N][None] + self.length_embed(tgt_len.clamp(max=self.cfg.max_target - 1))[:, None]
        x = self.hook_tgt_embed(x.expand(B, N, -1))  # (B, N, C)
        return self._run_decoder(self.nat_decoder, x, memory, valid[:, None, None, :], src_mask)

    def forward(self, src_ids, src_mask, tgt_ids=None, tgt_len=None, nat: bool = False) -> Seq2SeqOutput:
        memory = self.encode(src_ids, src_mask)
        lengths = self.length_logits(memory, src_mask)
        if nat:
            if tgt_len is None:
                tgt_len = lengths.argmax(-1).clamp(min=1)
            logits = self.decode_nat(tgt_len, memory, src_mask)
        else:
            logits = self.decode_at(tgt_ids, memory, src_mask)
        return Seq2SeqOutput(logits, lengths, memory)

    # -- inputs ---------------------------------------------------------------------------------------------
    def source_ids(self, source: str, task: str) -> list[int]:
        if not isinstance(source, str) or not source:
            raise InputError("The source is empty: type at least one character.")
        ids = [tasks.task_token(task)] + tasks.encode_chars(source)
        if len(ids) > self.cfg.max_source:
            raise InputError(
                f"The source has {len(source)} characters; this model reads at most {self.cfg.max_source - 1}."
            )
        return ids

    def prepare(self, source: str, task: str = "reverse", target: str | None = None, nat: bool = False) -> dict:
        """→ batch for `model(**batch)`: src_ids/src_mask (1, Ns); AT: tgt_ids (1, Nt) = <bos> + target (the
        model's own greedy output when target is None); NAT: tgt_len (1,) = len(target) (or the predicted length)."""
        dev = self.device
        src = torch.tensor([self.source_ids(source, task)], device=dev)  # (1, Ns)
        batch = {"src_ids": src, "src_mask": torch.ones_like(src)}
        if target is None:
            target = tasks.decode_ids(generate_ids(self, source, task, nat=nat))
        tgt = tasks.encode_chars(target)
        if len(tgt) + 1 > self.cfg.max_target:
            raise InputError(
                f"The target has {len(tgt)} characters; this model writes at most {self.cfg.max_target - 1}."
            )
        if nat:
            batch.update(tgt_len=torch.tensor([max(1, len(tgt))], device=dev), nat=True)
        else:
            batch["tgt_ids"] = torch.tensor([[tasks.BOS] + tgt], device=dev)  # (1, Nt)
        return batch

    def generate_text(
        self,
        source: str,
        task: str = "reverse",
        strategy: str = "greedy",
        num_beams: int = 1,
        temperature: float = 1.0,
        seed: int = 0,
        nat: bool = False,
    ) -> str:
        return tasks.decode_ids(
            generate_ids(
                self, source, task, strategy=strategy, num_beams=num_beams, temperature=temperature, seed=seed, nat=nat
            )
        )


def load_seq2seq_file(path: Path) -> Seq2Seq:
    """Weights + config (JSON in the safetensors metadata)."""
    model, meta = load_with_config(path, "seq2seq", lambda cfg: Seq2Seq(Seq2SeqConfig(**cfg)))
    model.meta = meta
    return model


def save_seq2seq_file(model: Seq2Seq, path: Path, extra_meta: dict | None = None) -> None:
    save_with_config(model, path, {"config": json.dumps(model.cfg.to_json()), **(extra_meta or {})})


def shipped_accuracies(model: Seq2Seq) -> dict:
    """{"at": {task: exact match}, "nat": {...}, "n": per task} as written by scripts/train_seq2seq.py."""
    return json.loads(getattr(model, "meta", {}).get("accuracy", "{}"))
