"""Greedy decoding for the attention RNN (attn_rnn.py), batched, with every step's attention, p_gen, vocabulary
distribution and final (mixed) distribution kept: the page's per-step view and the exact-match numbers read them.

The step is the model's own `decoder.step`, the same function teacher forcing runs, so `model(**model.prepare(s))`
on the generated output records exactly these attention rows. A generated word outside the output vocabulary (a
copy) is fed back as <unk> (See et al. 2017 §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAD, BOS, EOS, UNK = 0, 1, 2, 3


@dataclass
class Generation:
    text: str
    tokens: list[str]  # the output tokens (no <eos>); a copied word as itself, a plain model's <unk> as "<unk>"
    source_tokens: list[str]  # the source as typed (words or digits)
    encoder_tokens: list[str]  # what the encoder reads: <unk> for a word outside its vocabulary
    attention: torch.Tensor  # (Nt, Ns) one row per output step, the <eos> step included
    p_gen: torch.Tensor | None  # (Nt,) the pointer's probability of generating (None: plain model)
    p_vocab: torch.Tensor  # (Nt, V) the vocabulary distribution
    final: torch.Tensor  # (Nt, V + X) what the output is drawn from (the mix, or P_vocab)
    ext_vocab: list[str]  # names of `final`'s columns: the output vocabulary, then the X source words outside it
    finished: bool  # ended with <eos> (False: stopped at max_len)


@torch.no_grad()
def greedy(model, batch: dict, max_len: int) -> dict:
    """Batched greedy decoding → {"ids" (B, T) extended ids (PAD after <eos>), "attn" (B, T, Ns), "p_gen" (B, T) or
    None, "p_vocab" (B, T, V), "final" (B, T, V + X), "steps" (B,) steps taken, <eos> included}."""
    src_mask = batch["src_mask"].bool()
    memory = model.encoder(batch["src_ids"], src_mask)  # (B, Ns, C)
    keys = model.decoder.cross_attn.w_h(memory)  # (B, Ns, A)
    state, ctx, attn = model.start(memory, src_mask)
    B, V = memory.shape[0], model.cfg.vocab_size
    y = torch.full((B,), BOS, dtype=torch.long, device=memory.device)
    done = torch.zeros(B, dtype=torch.bool, device=memory.device)
    steps = torch.zeros(B, dtype=torch.long, device=memory.device)
    rows: dict[str, list] = {"ids": [], "attn": [], "p_gen": [], "p_vocab": [], "final": []}
    for _ in range(max_len):
        o = model.decoder.step(y, state, ctx, attn, memory, keys, src_mask)
        p_vocab = torch.softmax(o.logits, -1)  # (B, V)
        final = model.final(p_vocab, o.attn, o.p_gen, batch["src_ext"], batch["n_ext"])  # (B, V + X)
        nxt = final.argmax(-1).masked_fill(done, PAD)  # (B,)
        steps += (~done).long()
        for k, v in zip(rows, (nxt, o.attn, o.p_gen, p_vocab, final)):
            rows[k].append(v)
        done |= nxt == EOS
        if bool(done.all()):
            break
        y = torch.where(nxt >= V, torch.full_like(nxt, UNK), nxt)  # a copied word goes back in as <unk>
        state, ctx, attn = o.state, o.context, o.attn
    out = {k: torch.stack(v, 1) if v[0] is not None else None for k, v in rows.items()}  # T × (B, …) → (B, T, …)
    out["steps"] = steps
    return out


def _words(model, ids: list[int], oov: list[str]) -> list[str]:
    V = model.task.OUTPUT_VOCAB
    return [V[i] if i < len(V) else oov[i - len(V)] for i in ids]


def generate(model, source: str, max_len: int | None = None) -> Generation:
    """Greedy output of one source with its per-step trace (InputError on a bad source)."""
    words = model.source_tokens(source)
    batch = model.encode_batch([words])
    g = greedy(model, batch, max_len or model.cfg.max_target)
    n = int(g["steps"][0])
    ids = g["ids"][0, :n].tolist()
    finished = bool(ids) and ids[-1] == EOS
    tokens = _words(model, ids[:-1] if finished else ids, batch["oov"][0])
    enc = [model.task.SOURCE_VOCAB[i] for i in batch["src_ids"][0].tolist()]
    p_gen = g["p_gen"][0, :n].cpu() if g["p_gen"] is not None else None
    return Generation(
        text=model.task.join(tokens),
        tokens=tokens,
        source_tokens=words,
        encoder_tokens=enc,
        attention=g["attn"][0, :n].cpu(),
        p_gen=p_gen,
        p_vocab=g["p_vocab"][0, :n].cpu(),
        final=g["final"][0, :n].cpu(),
        ext_vocab=model.task.OUTPUT_VOCAB + batch["oov"][0],
        finished=finished,
    )


def predict(model, sources: list[str], batch_size: int = 250, max_len: int | None = None) -> list[str]:
    """Greedy outputs of many sources (batched), as text."""
    out: list[str] = []
    for i in range(0, len(sources), batch_size):
        words = [model.source_tokens(s) for s in sources[i : i + batch_size]]
        batch = model.encode_batch(words)
        g = greedy(model, batch, max_len or model.cfg.max_target)
        for b, n in enumerate(g["steps"].tolist()):
            ids = g["ids"][b, :n].tolist()
            ids = ids[:-1] if ids and ids[-1] == EOS else ids
            out.append(model.task.join(_words(model, ids, batch["oov"][b])))
    return out


def exact_match(model, examples, batch_size: int = 250) -> float:
    """Fraction of examples (with .source, .target) whose greedy output is exactly the target."""
    preds = predict(model, [e.source for e in examples], batch_size)
    return sum(p == e.target for p, e in zip(preds, examples)) / max(1, len(examples))
