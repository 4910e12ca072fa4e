"""Encoder–decoder analysis (pure torch, no streamlit): alignment score, scheduled sampling, exposure bias,
AT vs NAT, BLEU / exact match. Formulas: Papineni et al. 2002 (BLEU), Gu et al. 2018 (NAT), cited at each function."""

from __future__ import annotations

import difflib
import math
import time
from dataclasses import dataclass

import sacrebleu
import torch

from xviz.data import seq2seq_tasks as tasks
from xviz.errors import InputError
from xviz.hooks import record
from xviz.models.seq2seq_decode import greedy_batch, nat_batch, nat_decode, next_logprobs, source_batch, step_decode


# ---- scheduled sampling (Bengio et al. 2015) -------------------------------------------------------------
def inverse_sigmoid(step: int, k: float) -> float:
    """ε_i = k / (k + exp(i / k)): probability of feeding the ground truth at training step i (§2.4)."""
    return k / (k + math.exp(min(step / k, 700.0)))


def scheduled_mix(tgt_in: torch.Tensor, pred: torch.Tensor, eps: float, g: torch.Generator) -> torch.Tensor:
    """Decoder inputs where each position t ≥ 1 keeps the ground truth with probability eps, else takes the
    model's own prediction made at t − 1 (pred[:, t-1]). <bos> (t = 0) and padding are never replaced.
    tgt_in, pred: (B, Nt) → (B, Nt)."""
    own = torch.cat([tgt_in[:, :1], pred[:, :-1]], dim=1)  # (B, Nt) shifted predictions
    keep = torch.rand(tgt_in.shape, generator=g) < eps
    keep[:, 0] = True
    keep |= tgt_in == tasks.PAD
    return torch.where(keep.to(tgt_in.device), tgt_in, own)


def mix_table(model, source: str, task: str, target: str, eps: float, seed: int = 0) -> dict:
    """What one scheduled-sampling input looks like: ground truth, the model's teacher-forced predictions, and
    the mixed input (which positions came from where)."""
    batch = model.prepare(source, task, target=target)
    with torch.no_grad():
        pred = model(**batch).logits.argmax(-1)  # (1, Nt)
    mixed = scheduled_mix(batch["tgt_ids"], pred, eps, torch.Generator().manual_seed(seed))
    gold = batch["tgt_ids"][0].tolist()
    return {
        "gold": model.decode(gold),
        "pred": model.decode([tasks.BOS] + pred[0, :-1].tolist()),
        "mixed": model.decode(mixed[0].tolist()),
        "from_model": [a != b for a, b in zip(mixed[0].tolist(), gold)],
    }


# ---- the known alignment in token space ------------------------------------------------------------------
def alignment_matrix(ex: tasks.Example, n_rows: int, n_src: int) -> torch.Tensor:
    """(n_rows, n_src) bool: decoder row t predicts target character t and should read the source tokens of
    ex.align[t] (shifted by 1 for the task token). Rows past the target (the <eos> step) have no alignment."""
    out = torch.zeros(n_rows, n_src, dtype=torch.bool)
    for t, chars in enumerate(ex.align[:n_rows]):
        for c in chars:
            if c + 1 < n_src:
                out[t, c + 1] = True
    return out


def alignment_score(probs: torch.Tensor, align: torch.Tensor) -> torch.Tensor:
    """Share of attention on the right source positions: mean over rows with a known alignment of
    Σ_s probs[..., t, s]·align[t, s]. probs (..., Nt, Ns), align (Nt, Ns) → (...)."""
    rows = align.any(-1)  # (Nt,)
    if not rows.any():
        return torch.full(probs.shape[:-2], float("nan"))
    mass = (probs[..., : align.shape[0], :] * align.to(probs.dtype)).sum(-1)  # (..., Nt)
    return mass[..., rows].mean(-1)


def argmax_on_alignment(probs: torch.Tensor, align: torch.Tensor) -> float:
    """Share of aligned rows whose argmax over the source lands on an aligned position. probs (Nt, Ns)."""
    rows = align.any(-1)
    hit = align.gather(-1, probs[: align.shape[0]].argmax(-1, keepdim=True))[:, 0]  # (Nt,)
    return float(hit[rows].float().mean()) if rows.any() else float("nan")


@dataclass
class Run:
    """One recorded forward of the model on (source, target) with everything the page shows."""

    source: str
    task: str
    target: str  # what the decoder was fed (the model's own greedy output, or given)
    src_tokens: list[str]
    tgt_tokens: list[str]  # decoder inputs (<bos> + target) for AT; position labels for NAT
    rec: object  # Recording
    align: torch.Tensor | None  # (Nt, Ns) bool, when a reference exists
    reference: tasks.Example | None
    why_no_reference: str


def record_run(model, source: str, task: str, target: str | None = None, nat: bool = False) -> Run:
    """Record every hook of one forward (AT: teacher-forced on `target`, default = the model's greedy output)."""
    ref, why = tasks.reference(task, source)
    batch = model.prepare(source, task, target=target, nat=nat)
    with record(model, meta={"source": source, "task": task, "nat": nat}) as rec:
        with torch.no_grad():
            out = model(**batch)
    ids = out.logits[0].argmax(-1).tolist()
    if nat:
        tgt = tasks.decode_ids(ids)
        tgt_tokens = [f"#{t}" for t in range(len(ids))]
    else:
        tgt = tasks.decode_ids(batch["tgt_ids"][0, 1:].tolist())
        tgt_tokens = model.decode(batch["tgt_ids"][0].tolist())
    src_tokens = model.decode(batch["src_ids"][0].tolist())
    align = alignment_matrix(ref, len(tgt_tokens), len(src_tokens)) if ref is not None else None
    return Run(source, task, tgt, src_tokens, tgt_tokens, rec, align, ref, why)


def cross_scores(run: Run, stack: str = "decoder") -> torch.Tensor | None:
    """(L, H) alignment score of every cross-attention head."""
    if run.align is None:
        return None
    L = sum(1 for k in run.rec if k.startswith(f"{stack}.blocks.") and k.endswith("cross_attn.hook_probs"))
    probs = torch.stack([run.rec[f"{stack}.blocks.{i}.cross_attn.hook_probs"][0] for i in range(L)])  # (L, H, Nt, Ns)
    return alignment_score(probs, run.align)


# ---- exposure bias: teacher forcing vs free running after an injected mistake ----------------------------
@dataclass
class ExposureBias:
    gold: str
    position: int  # index of the injected wrong character in the target
    wrong: str
    forced_pred: str  # teacher forcing: next-token predictions, fed the gold prefix (mistake included)
    free_run: str  # free running: gold[:position] + wrong, then the model continues on its own
    forced_errors: int  # wrong predictions after the mistake under teacher forcing
    free_errors: int  # positions after the mistake where free running differs from gold


def _forced_prefix_continue(model, source: str, task: str, prefix: str) -> str:

    src, src_mask = source_batch(model, source, task)
    memory = model.encode(src, src_mask)
    ids = [tasks.BOS] + tasks.encode_chars(prefix)
    while len(ids) < model.cfg.max_target:
        tok = int(next_logprobs(model, torch.tensor([ids]), memory, src_mask)[0].argmax())
        ids.append(tok)
        if tok == tasks.EOS:
            break
    return tasks.decode_ids(ids[1:])


def exposure_bias(model, source: str, task: str, gold: str, position: int, wrong: str) -> ExposureBias:
    """Inject `wrong` at target index `position` and compare both regimes on the characters after it."""
    if not gold or not 0 <= position < len(gold):
        raise ValueError(f"position must be in [0, {len(gold)}), got {position}")
    mistaken = gold[:position] + wrong + gold[position + 1 :]
    with torch.no_grad():
        logits = model(**model.prepare(source, task, target=mistaken)).logits[0]  # (Nt, V)
    forced = tasks.decode_ids(logits.argmax(-1).tolist())
    free = _forced_prefix_continue(model, source, task, gold[:position] + wrong)
    after = range(position + 1, len(gold))
    f_err = sum(1 for i in after if i >= len(forced) or forced[i] != gold[i])
    r_err = sum(1 for i in after if i >= len(free) or free[i] != gold[i]) + abs(len(free) - len(gold))
    return ExposureBias(gold, position, wrong, forced, free, f_err, r_err)


# ---- AT vs NAT -----------------------------------------------------------------------------------------
def diff_marks(out: str, ref: str) -> dict:
    """NAT's typical errors against the reference: repeated characters (a char equal to its predecessor where
    the reference has no such repeat) and missing ones (reference characters absent from the output)."""

    sm = difflib.SequenceMatcher(a=ref, b=out, autojunk=False)
    missing = sum(i2 - i1 for op, i1, i2, _, _ in sm.get_opcodes() if op in ("delete", "replace"))
    ref_rep = sum(1 for i in range(1, len(ref)) if ref[i] == ref[i - 1])
    out_rep = sum(1 for i in range(1, len(out)) if out[i] == out[i - 1])
    return {"repeats": max(0, out_rep - ref_rep), "missing": missing, "length_diff": len(out) - len(ref)}


def timed(fn, repeats: int = 5) -> tuple[object, float]:
    """(result, median wall seconds) of fn()."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, sorted(times)[len(times) // 2]


def at_vs_nat(model, source: str, task: str) -> dict:

    at, t_at = timed(lambda: step_decode(model, source, task))
    (nat_ids, len_probs), t_nat = timed(lambda: nat_decode(model, source, task))
    ref, _ = tasks.reference(task, source)
    rows = {
        "AT": {"output": at.text, "decoder passes": len(at.steps), "ms": 1000 * t_at},
        "NAT": {
            "output": tasks.decode_ids(nat_ids),
            "decoder passes": 1,
            "ms": 1000 * t_nat,
            "predicted length": int(len_probs.argmax()),
            "length confidence": float(len_probs.max()),
        },
    }
    if ref is not None:
        for r in rows.values():
            r.update(exact=r["output"] == ref.target, **diff_marks(r["output"], ref.target))
    return rows


# ---- BLEU + exact match over generated test inputs -------------------------------------------------------
def bleu_eval(model, task: str, n: int = 50, seed: int = 1234) -> dict:
    """Greedy AT and NAT on n held-out examples: exact match and sacrebleu corpus BLEU. Character-level BLEU
    (tokenize="char"): targets here are one 'word' (a date, a reversed string), so word BLEU would be all-or-
    nothing. BLEU = BP · exp(Σ¼ log p_n), Papineni et al. 2002."""

    exs = tasks.test_set(task, n, seed)
    refs = [ex.target for ex in exs]
    out = {"examples": exs}
    for name, fn in (("AT", greedy_batch), ("NAT", nat_batch)):
        hyps = fn(model, exs)
        bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="char")
        out[name] = {
            "hyps": hyps,
            "exact": sum(h == r for h, r in zip(hyps, refs)) / n,
            "bleu": bleu.score,
            "bp": bleu.bp,
            "precisions": list(bleu.precisions),
        }
    return out


def validate_source(source: str, task: str) -> tuple[str, list[str]]:
    """The one gate for page input: → (source to run, notes). Empty / outside-vocabulary → InputError;
    longer than the task was trained on → truncated, with a note."""

    if not isinstance(source, str) or not source.strip():
        raise InputError("The source is empty: type a few characters or pick an example.")
    tasks.task_token(task)
    notes = []
    source = source.strip()
    limit = tasks.MAX_CHARS[task]
    if len(source) > limit:
        notes.append(
            f"The source had {len(source)} characters; `{task}` was trained on at most {limit}, so it "
            f"was truncated to the first {limit}."
        )
        source = source[:limit].rstrip() or source[:limit]
    tasks.encode_chars(source)  # raises InputError naming the characters outside the vocabulary
    return source, notes


# ---- any Hugging Face encoder–decoder (BART, Marian) through the adapter ----------------------------------
def hf_generate(model, source: str, max_new_tokens: int = 40) -> torch.Tensor:
    """Greedy output ids (1, T) of an adapter-loaded HF encoder–decoder, from its decoder start token on (HF's
    own generate on its fused path; nothing recorded)."""
    batch = model.prepare(source)
    return model.generate(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
    )


def hf_run(model, source: str, target: str | None = None) -> Run:
    """Teacher-forced recording of an HF encoder–decoder on (source, target); target None → its own greedy
    output, fed back as generated ids (no re-tokenisation). No known alignment: the scores need xviz's tasks."""
    if target is None or not target.strip():
        batch = model.prepare(source)
        out = hf_generate(model, source)  # (1, T)
        batch["decoder_input_ids"] = out[:, :-1] if out.shape[1] > 1 else out  # each row predicts the next
        target = model.tokenizer.decode(out[0], skip_special_tokens=True)
    else:
        batch = model.prepare(source, target=target)
    with record(model, names="*attn.hook_probs", meta={"source": source, "target": target}) as rec:
        with torch.no_grad():
            model(**batch)
    src_tokens = model.decode(batch["input_ids"][0].tolist())
    tgt_tokens = model.decode(batch["decoder_input_ids"][0].tolist())
    return Run(source, "hf", target, src_tokens, tgt_tokens, rec, None, None, "a Hugging Face model")
