"""An attention RNN encoder–decoder (Bahdanau et al. 2015) with two options: a pointer-generator output (See et
al. 2017) and location-aware attention (Chorowski et al. 2015). Zoo models `copy-plain`, `copy-pointer` (task
"copy", xviz/data/copy_task.py) and `monotonic-plain`, `monotonic-guided`, `monotonic-location` (task "monotonic",
xviz/data/monotonic_task.py; "guided" is the plain architecture trained with the guided-attention loss).

Encoder: word embedding → bidirectional GRU (packed: padding never enters a state) → memory h_i (B, Ns, C).
Decoder step t (See et al. §2.1 order, with the previous context fed back in as Luong et al. 2015's input feeding):
    x_t = [embed(y_{t−1}); c_{t−1}],  s_t = GRU(x_t, s_{t−1})
    e_ti = vᵀ tanh(W_h h_i + W_s s_t + b_attn [+ U f_ti]),  f_t = F ∗ a_{t−1}  (Chorowski eq. 8–9: the previous
           step's attention convolved over source positions)
    a_t = softmax_i(e_t) over real source positions,  c_t = Σ_i a_ti h_i
    P_vocab = softmax(W_o tanh(W_r [s_t; c_t; embed(y_{t−1})]))
    pointer: p_gen = σ(w_cᵀ c_t + w_sᵀ s_t + w_xᵀ x_t + b_ptr)  (See eq. 8)
             P(w) = p_gen P_vocab(w) + (1 − p_gen) Σ_{i: w_i = w} a_ti  (See eq. 9; `pointer_mix`)
A word the decoder cannot generate is fed back as <unk> (See §2.2). Hooks (the decoder's per-step values are
stacked over steps, then passed through the hook once: recording them is exact, an edit changes nothing):
`encoder.hook_embed` (B, Ns, E), `encoder.hook_out` (B, Ns, C), `decoder.hook_state` (B, Nt, C),
`decoder.cross_attn.hook_scores` / `hook_probs` (B, Nt, Ns), `decoder.hook_p_gen` (B, Nt, pointer only),
`hook_logits` (B, Nt, V) vocabulary logits, `hook_final` (B, Nt, V + X) the final distribution over the output
vocabulary + the X source words outside it. Greedy decoding: attn_rnn_decode.py.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from xviz.data import copy_task, monotonic_task
from xviz.hooks import HookPoint
from xviz.models._checkpoint import load_with_config, save_with_config
from xviz.models.attn_rnn_decode import generate
from xviz.models.contract import ContractMixin

TASKS = {"copy": copy_task, "monotonic": monotonic_task}
PAD, BOS, EOS, UNK = 0, 1, 2, 3  # the same in both tasks' vocabularies


@dataclass(frozen=True)
class AttnRNNConfig:
    task: str = "copy"
    vocab_size: int = len(copy_task.OUTPUT_VOCAB)  # what the decoder generates
    source_vocab_size: int = len(copy_task.SOURCE_VOCAB)
    embedding_size: int = 64
    hidden_size: int = 128  # decoder state = encoder memory (two directions of hidden_size / 2)
    attention_size: int = 64  # width of the additive attention's tanh layer
    num_layers: int = 1  # GRU layers of the encoder
    num_heads: int = 1  # one attention distribution per decoder step
    pointer: bool = False
    location: bool = False
    location_filters: int = 8
    location_kernel: int = 7  # odd: the convolution is centred on each source position
    max_source: int = copy_task.MAX_WORDS
    max_target: int = 24

    def to_json(self) -> dict:
        return asdict(self)


def pointer_mix(p_vocab, attn, p_gen, src_ext, n_ext: int) -> torch.Tensor:
    """See et al. eq. 9: p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: w_i = w} a_i over the extended vocabulary.
    p_vocab (..., V), attn (..., Ns), p_gen (...), src_ext (..., Ns) extended ids of the source words (the output
    id, or V + k for the k-th source word outside the vocabulary) → (..., V + n_ext), summing to 1."""
    gen = p_gen[..., None] * p_vocab  # (..., V)
    out = torch.cat([gen, gen.new_zeros(*gen.shape[:-1], n_ext)], -1)  # (..., V + n_ext)
    return out.scatter_add(-1, src_ext.expand(*attn.shape), (1 - p_gen)[..., None] * attn)


class CrossAttention(nn.Module):
    """Additive attention (Bahdanau eq. 6), optionally location-aware (Chorowski eq. 8–9)."""

    def __init__(self, cfg: AttnRNNConfig):
        super().__init__()
        C, A = cfg.hidden_size, cfg.attention_size
        self.w_h = nn.Linear(C, A, bias=False)
        self.w_s = nn.Linear(C, A)
        self.v = nn.Linear(A, 1, bias=False)
        self.location = cfg.location
        if cfg.location:
            k = cfg.location_kernel
            self.conv = nn.Conv1d(1, cfg.location_filters, k, padding=k // 2, bias=False)
            self.w_f = nn.Linear(cfg.location_filters, A, bias=False)
        self.hook_scores, self.hook_probs = HookPoint(), HookPoint()

    def energies(self, s, keys, prev_attn, src_mask) -> torch.Tensor:
        """s (B, C), keys = W_h h (B, Ns, A), prev_attn (B, Ns) → masked energies (B, Ns)."""
        pre = keys + self.w_s(s)[:, None]  # (B, Ns, A)
        if self.location:
            f = self.conv(prev_attn[:, None]).transpose(1, 2)  # (B, 1, Ns) → (B, F, Ns) → (B, Ns, F)
            pre = pre + self.w_f(f)
        e = self.v(torch.tanh(pre))[..., 0]  # (B, Ns, 1) → (B, Ns)
        return e.masked_fill(~src_mask, torch.finfo(e.dtype).min)


@dataclass
class StepOut:
    state: torch.Tensor  # (B, C) s_t
    context: torch.Tensor  # (B, C) c_t
    attn: torch.Tensor  # (B, Ns) a_t
    scores: torch.Tensor  # (B, Ns) e_t
    logits: torch.Tensor  # (B, V)
    p_gen: torch.Tensor | None  # (B,)


class Decoder(nn.Module):
    def __init__(self, cfg: AttnRNNConfig):
        super().__init__()
        C, E = cfg.hidden_size, cfg.embedding_size
        self.embed = nn.Embedding(cfg.vocab_size, E, padding_idx=PAD)
        self.init = nn.Linear(C, C)  # s_0 = tanh(W [h_1 backward; h_N forward]) (Bahdanau appendix A.2.2)
        self.gru = nn.GRUCell(E + C, C)
        self.cross_attn = CrossAttention(cfg)
        self.readout = nn.Linear(2 * C + E, C)
        self.out = nn.Linear(C, cfg.vocab_size)
        self.p_gen = nn.Linear(2 * C + E + C, 1) if cfg.pointer else None  # [c_t; s_t; x_t] (x_t = [emb; c_{t−1}])
        self.hook_state = HookPoint()
        self.hook_p_gen = HookPoint() if cfg.pointer else None

    def step(self, y_prev, state, ctx, prev_attn, memory, keys, src_mask) -> StepOut:
        emb = self.embed(y_prev)  # (B, E)
        x = torch.cat([emb, ctx], -1)  # (B, E + C)
        s = self.gru(x, state)  # (B, C)
        e = self.cross_attn.energies(s, keys, prev_attn, src_mask)
        a = torch.softmax(e, -1)  # (B, Ns)
        c = torch.bmm(a[:, None], memory)[:, 0]  # (B, 1, Ns) @ (B, Ns, C) → (B, C)
        logits = self.out(torch.tanh(self.readout(torch.cat([s, c, emb], -1))))  # (B, V)
        p_gen = torch.sigmoid(self.p_gen(torch.cat([c, s, x], -1)))[:, 0] if self.p_gen is not None else None
        return StepOut(s, c, a, e, logits, p_gen)


class Encoder(nn.Module):
    def __init__(self, cfg: AttnRNNConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.source_vocab_size, cfg.embedding_size, padding_idx=PAD)
        self.gru = nn.GRU(
            cfg.embedding_size, cfg.hidden_size // 2, cfg.num_layers, batch_first=True, bidirectional=True
        )
        self.hook_embed, self.hook_out = HookPoint(), HookPoint()

    def forward(self, src_ids, src_mask) -> torch.Tensor:
        x = self.hook_embed(self.embed(src_ids))  # (B, Ns, E)
        lengths = src_mask.sum(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=src_ids.shape[1])  # (B, Ns, C)
        return self.hook_out(h)


def _stack(steps: list[StepOut], field: str) -> torch.Tensor:
    return torch.stack([getattr(o, field) for o in steps], 1)  # Nt × (B, ...) → (B, Nt, ...)


@dataclass
class AttnRNNOutput:
    logits: torch.Tensor  # (B, Nt, V) vocabulary logits
    final: torch.Tensor  # (B, Nt, V + X) the final distribution (pointer mix; plain: softmax of the logits)
    attention: torch.Tensor  # (B, Nt, Ns)
    p_gen: torch.Tensor | None  # (B, Nt)


class AttnRNNSeq2Seq(ContractMixin, nn.Module):
    kind = "rnn_seq2seq"  # not "seq2seq": no Transformer blocks; the page's copy / guided sections load these by name
    is_causal = False

    def __init__(self, cfg: AttnRNNConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.hook_logits, self.hook_final = HookPoint(), HookPoint()

    # -- contract and task ------------------------------------------------------------------------------------
    @property
    def task(self):
        """The task module (copy_task / monotonic_task): vocabularies, tokenising, examples. A property, so the
        model holds no module and pickles."""
        return TASKS[self.cfg.task]

    @property
    def device(self) -> torch.device:
        return self.decoder.out.weight.device

    @property
    def max_positions(self) -> int:
        return self.cfg.max_source

    @property
    def output_vocab(self) -> list[str]:
        return list(self.task.OUTPUT_VOCAB)

    @property
    def examples(self) -> list[str]:
        return list(self.task.EXAMPLES)

    def decode(self, ids) -> list[str]:
        V = self.task.OUTPUT_VOCAB
        return [V[int(i)] if 0 <= int(i) < len(V) else "" for i in ids]

    # -- forward (teacher forcing) ------------------------------------------------------------------------------
    def start(self, memory, src_mask):
        """The decoder's state before step 1: s_0, c_0 = 0, a_0 = all attention on the first source token."""
        B, Ns, C = memory.shape
        last = src_mask.sum(1) - 1  # (B,) index of the last real token
        fwd = memory[torch.arange(B), last, : C // 2]  # (B, C/2) forward GRU after the whole source
        state = torch.tanh(self.decoder.init(torch.cat([memory[:, 0, C // 2 :], fwd], -1)))  # (B, C)
        a0 = torch.zeros(B, Ns, device=memory.device, dtype=memory.dtype)
        a0[:, 0] = 1.0
        return state, memory.new_zeros(B, C), a0

    def forward(self, src_ids, src_mask, tgt_ids, src_ext=None, n_ext: int = 0) -> AttnRNNOutput:
        """src_ids, src_mask (B, Ns); tgt_ids (B, Nt) = <bos> + target (output ids, <unk> for words outside the
        vocabulary); src_ext (B, Ns) extended ids of the source words (pointer only)."""
        src_mask = src_mask.bool()
        memory = self.encoder(src_ids, src_mask)
        keys = self.decoder.cross_attn.w_h(memory)  # (B, Ns, A), once per source
        state, ctx, attn = self.start(memory, src_mask)
        steps = []
        for t in range(tgt_ids.shape[1]):
            o = self.decoder.step(tgt_ids[:, t], state, ctx, attn, memory, keys, src_mask)
            state, ctx, attn = o.state, o.context, o.attn
            steps.append(o)
        return self.collect(steps, src_ext, n_ext)

    def collect(self, steps: list[StepOut], src_ext=None, n_ext: int = 0) -> AttnRNNOutput:
        """Per-step outputs → stacked tensors, through the hooks."""
        d = self.decoder
        d.hook_state(_stack(steps, "state"))  # (B, Nt, C)
        d.cross_attn.hook_scores(_stack(steps, "scores"))
        attn = d.cross_attn.hook_probs(_stack(steps, "attn"))  # (B, Nt, Ns)
        logits = self.hook_logits(_stack(steps, "logits"))  # (B, Nt, V)
        p_gen = d.hook_p_gen(_stack(steps, "p_gen")) if self.cfg.pointer else None  # (B, Nt)
        ext = src_ext[:, None, :] if src_ext is not None else None  # (B, 1, Ns): the same for every row
        final = self.final(torch.softmax(logits, -1), attn, p_gen, ext, n_ext)
        return AttnRNNOutput(logits, self.hook_final(final), attn, p_gen)

    def final(self, p_vocab, attn, p_gen, src_ext, n_ext: int) -> torch.Tensor:
        """The output distribution: the pointer mix (See eq. 9), or P_vocab itself for the plain model."""
        return pointer_mix(p_vocab, attn, p_gen, src_ext, n_ext) if self.cfg.pointer else p_vocab

    # -- inputs ----------------------------------------------------------------------------------------------
    def encode_batch(self, sources: list[list[str]], targets: list[list[str]] | None = None) -> dict:
        """Token lists → the batch of `forward` (+ `tgt_out` (B, Nt): the ids to predict, −100 on padding; the
        extended id of a copyable word for the pointer, <unk> for the plain model) and `oov`: per example, the
        source words outside the output vocabulary, in order (extended id V + k)."""
        S, V = self.task.SOURCE_VOCAB, self.task.OUTPUT_VOCAB
        s_id, v_id = {w: i for i, w in enumerate(S)}, {w: i for i, w in enumerate(V)}
        B, Ns = len(sources), max(map(len, sources))
        src, ext = torch.zeros(B, Ns, dtype=torch.long), torch.zeros(B, Ns, dtype=torch.long)
        oovs = [list(dict.fromkeys(w for w in ws if w not in v_id)) for ws in sources]
        for b, ws in enumerate(sources):
            src[b, : len(ws)] = torch.tensor([s_id.get(w, UNK) for w in ws])
            ext[b, : len(ws)] = torch.tensor([v_id[w] if w in v_id else len(V) + oovs[b].index(w) for w in ws])
        batch = {"src_ids": src, "src_mask": src != PAD, "src_ext": ext, "n_ext": max(map(len, oovs), default=0)}
        if targets is not None:
            Nt = max(map(len, targets)) + 1
            tgt_in, tgt_out = torch.zeros(B, Nt, dtype=torch.long), torch.full((B, Nt), -100, dtype=torch.long)
            for b, ws in enumerate(targets):
                out = [self._target_id(w, v_id, oovs[b]) for w in ws] + [EOS]
                tgt_out[b, : len(out)] = torch.tensor(out)
                tgt_in[b, : len(out)] = torch.tensor([BOS] + [v_id.get(w, UNK) for w in ws])
            batch.update(tgt_ids=tgt_in, tgt_out=tgt_out)
        batch["oov"] = oovs
        return {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _target_id(self, w: str, v_id: dict, oov: list[str]) -> int:
        copyable = self.cfg.pointer and w in oov  # the pointer predicts a rare word's extended id
        return v_id[w] if w in v_id else (len(v_id) + oov.index(w) if copyable else UNK)

    def source_tokens(self, source: str) -> list[str]:
        """The validated source as the task's tokens (words or digits); InputError on bad input."""
        return self.task.source_words(source)

    def prepare(self, source: str, target: str | None = None) -> dict:
        """→ the batch of `model(**batch)` for one source and a target (default: the model's own greedy output)."""
        words = self.source_tokens(source)
        tgt = self.task.target_words(generate(self, source).text if target is None else target)
        batch = self.encode_batch([words], [tgt[: self.cfg.max_target - 1]])
        return {k: batch[k] for k in ("src_ids", "src_mask", "tgt_ids", "src_ext", "n_ext")}

    def generate_text(self, source: str, max_len: int | None = None):
        """Greedy output for one source: an attn_rnn_decode.Generation (.text, .attention (Nt, Ns), .p_gen …)."""
        return generate(self, source, max_len)


LIMITS = {"copy": (copy_task.MAX_WORDS, 24), "monotonic": (monotonic_task.MAX_DIGITS, 6 * monotonic_task.MAX_DIGITS)}


def config_for(task: str, **kw) -> AttnRNNConfig:
    """A config with the task's vocabulary sizes and length limits (source tokens, target tokens + <eos>)."""
    t, (src, tgt) = TASKS[task], LIMITS[task]
    base = dict(vocab_size=len(t.OUTPUT_VOCAB), source_vocab_size=len(t.SOURCE_VOCAB), max_source=src, max_target=tgt)
    return AttnRNNConfig(task=task, **{**base, **kw})


def load_attn_rnn_file(path: Path) -> AttnRNNSeq2Seq:
    model, meta = load_with_config(path, "attention-RNN", lambda cfg: AttnRNNSeq2Seq(AttnRNNConfig(**cfg)))
    model.meta = meta
    return model


def save_attn_rnn_file(model: AttnRNNSeq2Seq, path: Path, extra_meta: dict | None = None) -> None:
    save_with_config(model, path, {"config": json.dumps(model.cfg.to_json()), **(extra_meta or {})})


def shipped_metrics(model: AttnRNNSeq2Seq) -> dict:
    """The numbers the training script measured and wrote into the weight file's metadata."""
    return json.loads(getattr(model, "meta", {}).get("metrics", "{}"))
