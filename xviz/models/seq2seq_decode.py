"""Decoding for xviz's Seq2Seq: greedy, temperature sampling, beam search (with its tree), NAT, step traces.

No KV cache: each step re-runs the (tiny) decoder on the whole prefix, so every step is the same function the
page records. Sampling draws from a torch.Generator seeded by the caller, never from the global RNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xviz.data import seq2seq_tasks as tasks
from xviz.errors import InputError
from xviz.hooks import record

STRATEGIES = ("greedy", "sample", "beam")


@dataclass
class BeamNode:
    id: int
    parent: int | None  # id of the node it extends (None: the root <bos>)
    step: int
    token: int
    logp: float  # log-probability of this token given its prefix
    score: float  # cumulative log-probability of the prefix ending here
    status: str  # "kept" | "pruned" | "finished" | "root"


@dataclass
class StepInfo:
    token: int  # the token chosen at this step
    topk_ids: list[int]
    topk_probs: list[float]  # of the distribution the token was drawn from (after temperature)
    cross: torch.Tensor | None = None  # (L, H, Ns) cross-attention row of this step (filled by trace)


@dataclass
class Trace:
    task: str
    source: str
    strategy: str
    ids: list[int]  # generated ids (no <bos>; ends with <eos> when it stopped by itself)
    steps: list[StepInfo]
    tree: list[BeamNode] = field(default_factory=list)
    score: float = 0.0  # total log-probability of `ids`
    best_node: int | None = None  # beam search: the tree node that ends the returned hypothesis

    @property
    def text(self) -> str:
        return tasks.decode_ids(self.ids)


def source_batch(model, source: str, task: str):
    src = torch.tensor([model.source_ids(source, task)], device=model.device)  # (1, Ns)
    return src, torch.ones_like(src)


@torch.no_grad()
def next_logprobs(model, prefix: torch.Tensor, memory, src_mask) -> torch.Tensor:
    """prefix (K, t) → log p(next | prefix) (K, V); memory (1 or K, Ns, C) is broadcast to K rows."""
    K = prefix.shape[0]
    logits = model.decode_at(prefix, memory.expand(K, -1, -1), src_mask.expand(K, -1))  # (K, t, V)
    return logits[:, -1].float().log_softmax(-1)


def best_path(tr: Trace) -> set[int]:
    """Ids of the tree nodes on the returned beam hypothesis (root included)."""
    nodes, out, i = {n.id: n for n in tr.tree}, set(), tr.best_node
    while i is not None:
        out.add(i)
        i = nodes[i].parent
    return out


def _check(strategy: str, num_beams: int, temperature: float) -> None:
    if strategy not in STRATEGIES:
        raise InputError(f"Unknown decoding strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}.")
    if not 1 <= num_beams <= 16:
        raise InputError(f"num_beams must be between 1 and 16, got {num_beams}.")
    if not temperature > 0:
        raise InputError(f"temperature must be > 0, got {temperature}.")


@torch.no_grad()
def step_decode(
    model,
    source: str,
    task: str,
    strategy: str = "greedy",
    temperature: float = 1.0,
    seed: int = 0,
    top_k: int = 5,
    max_len: int | None = None,
) -> Trace:
    """Greedy or sampled decoding, one token per step, keeping each step's top-k next-token distribution."""
    _check(strategy, 1, temperature)
    src, src_mask = source_batch(model, source, task)
    memory = model.encode(src, src_mask)
    g = torch.Generator().manual_seed(int(seed))
    ids, steps, score = [tasks.BOS], [], 0.0
    for _ in range(max_len or model.cfg.max_target - 1):
        logp = next_logprobs(model, torch.tensor([ids], device=src.device), memory, src_mask)[0].cpu()  # (V,)
        if strategy == "sample":
            logp_t = (logp / temperature).log_softmax(-1)
            tok = int(torch.multinomial(logp_t.exp(), 1, generator=g))
        else:
            logp_t, tok = logp, int(logp.argmax())
        top = logp_t.topk(top_k)
        steps.append(StepInfo(tok, top.indices.tolist(), top.values.exp().tolist()))
        score += float(logp[tok])
        ids.append(tok)
        if tok == tasks.EOS:
            break
    return Trace(task, source, strategy, ids[1:], steps, score=score)


@torch.no_grad()
def beam_search(model, source: str, task: str, num_beams: int = 4, max_len: int | None = None) -> Trace:
    """Beam search on summed log-probabilities (no length penalty). A hypothesis that emits <eos> is finished;
    search stops when the best finished score beats every live beam (log-probs only fall), or at max_len.
    With num_beams = 1 it is exactly greedy decoding."""
    _check("beam", num_beams, 1.0)
    src, src_mask = source_batch(model, source, task)
    memory = model.encode(src, src_mask)
    tree = [BeamNode(0, None, 0, tasks.BOS, 0.0, 0.0, "root")]
    beams = [([tasks.BOS], 0.0, 0)]  # (ids, score, node id)
    finished: list[tuple[list[int], float, int]] = []
    for step in range(1, (max_len or model.cfg.max_target - 1) + 1):
        prefix = torch.tensor([b[0] for b in beams], device=src.device)  # (K, t)
        logp = next_logprobs(model, prefix, memory, src_mask).cpu()  # (K, V)
        cand = (logp + torch.tensor([b[1] for b in beams])[:, None]).flatten()  # (K·V,)
        top = cand.topk(min(2 * num_beams, cand.numel()))
        new_beams = []
        for rank, (s, flat) in enumerate(zip(top.values.tolist(), top.indices.tolist())):
            k, tok = divmod(flat, logp.shape[1])  # every one of the 2·beams candidates goes into the tree
            ids, _, parent = beams[k]
            node = BeamNode(len(tree), parent, step, tok, float(logp[k, tok]), s, "pruned")
            tree.append(node)
            if len(new_beams) == num_beams:
                continue
            if tok == tasks.EOS:
                if rank < num_beams:  # an <eos> counts only among the top num_beams (as in HF)
                    node.status = "finished"
                    finished.append((ids + [tok], s, node.id))
            else:
                node.status = "kept"
                new_beams.append((ids + [tok], s, node.id))
        beams = new_beams
        best_done = max((f[1] for f in finished), default=-float("inf"))
        if not beams or len(finished) >= num_beams or best_done >= max(b[1] for b in beams):
            break
    best = max(finished or beams, key=lambda f: f[1])
    return Trace(task, source, "beam", best[0][1:], [], tree, best[1], best[2])


@torch.no_grad()
def nat_decode(model, source: str, task: str, length: int | None = None) -> tuple[list[int], torch.Tensor]:
    """One parallel pass: predicted (or given) length T → T tokens. Returns (ids, length probabilities)."""
    src, src_mask = source_batch(model, source, task)
    memory = model.encode(src, src_mask)
    len_probs = model.length_logits(memory, src_mask)[0].softmax(-1).cpu()  # (max_target,)
    n = int(len_probs.argmax()) if length is None else int(length)
    n = max(1, min(n, model.cfg.max_target - 1))
    logits = model.decode_nat(torch.tensor([n], device=src.device), memory, src_mask)  # (1, n, V)
    return logits[0].argmax(-1).tolist(), len_probs


def generate_ids(
    model,
    source: str,
    task: str,
    strategy: str = "greedy",
    num_beams: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    nat: bool = False,
) -> list[int]:
    _check(strategy, num_beams, temperature)
    if nat:
        return nat_decode(model, source, task)[0]
    if strategy == "beam":
        return beam_search(model, source, task, num_beams).ids
    return step_decode(model, source, task, strategy, temperature, seed).ids


@torch.no_grad()
def cross_rows(model, source: str, task: str, ids: list[int]) -> torch.Tensor:
    """Cross-attention of every decoding step of `ids`, from one teacher-forced pass (the decoder is causal, so
    row t equals what step t saw). → (L, H, Nt, Ns), Nt = len(ids) inputs (<bos> + ids[:-1])."""
    src, src_mask = source_batch(model, source, task)
    tgt = torch.tensor([[tasks.BOS] + list(ids)[:-1] if ids else [tasks.BOS]], device=src.device)  # (1, Nt)
    with record(model, names="decoder.blocks.*.cross_attn.hook_probs") as rec:
        model(src, src_mask, tgt_ids=tgt)
    L = model.cfg.decoder_layers
    return torch.stack([rec[f"decoder.blocks.{i}.cross_attn.hook_probs"][0] for i in range(L)])


def trace(
    model,
    source: str,
    task: str,
    strategy: str = "greedy",
    num_beams: int = 4,
    temperature: float = 1.0,
    seed: int = 0,
    top_k: int = 5,
) -> Trace:
    """Step-by-step decoding for the page: per step the chosen token, its top-k and its cross-attention row;
    for beam search also the tree (steps then follow the best hypothesis)."""
    if strategy == "beam":
        tr = beam_search(model, source, task, num_beams)
        tr.steps = _forced_steps(model, source, task, tr.ids, top_k)  # distributions along the best path
    else:
        tr = step_decode(model, source, task, strategy, temperature, seed, top_k)
    rows = cross_rows(model, source, task, tr.ids)  # (L, H, Nt, Ns)
    for t, st in enumerate(tr.steps):
        st.cross = rows[:, :, t]  # (L, H, Ns)
    return tr


@torch.no_grad()
def _forced_steps(model, source: str, task: str, ids: list[int], top_k: int) -> list[StepInfo]:
    src, src_mask = source_batch(model, source, task)
    tgt = torch.tensor([[tasks.BOS] + list(ids)[:-1]], device=src.device)  # (1, Nt)
    probs = model(src, src_mask, tgt_ids=tgt).logits[0].float().softmax(-1).cpu()  # (Nt, V)
    out = []
    for t, tok in enumerate(ids):
        top = probs[t].topk(top_k)
        out.append(StepInfo(tok, top.indices.tolist(), top.values.tolist()))
    return out


# ---- batched, for evaluation -----------------------------------------------------------------------------
def batch_sources(model, examples) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [model.source_ids(ex.source, ex.task) for ex in examples]
    n = max(map(len, rows))
    src = torch.full((len(rows), n), tasks.PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        src[i, : len(r)] = torch.tensor(r)
    return src.to(model.device), (src != tasks.PAD).long().to(model.device)  # (B, Ns) each


@torch.no_grad()
def greedy_batch(model, examples) -> list[str]:
    src, src_mask = batch_sources(model, examples)
    memory = model.encode(src, src_mask)
    B = src.shape[0]
    ids = torch.full((B, 1), tasks.BOS, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(model.cfg.max_target - 1):
        nxt = model.decode_at(ids, memory, src_mask)[:, -1].argmax(-1)  # (B,)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        done |= nxt == tasks.EOS
        if done.all():
            break
    return [tasks.decode_ids(r[1:]) for r in ids.tolist()]


@torch.no_grad()
def nat_batch(model, examples) -> list[str]:
    src, src_mask = batch_sources(model, examples)
    memory = model.encode(src, src_mask)
    n = model.length_logits(memory, src_mask).argmax(-1).clamp(1, model.cfg.max_target - 1)  # (B,)
    logits = model.decode_nat(n, memory, src_mask)  # (B, max n, V)
    pred = logits.argmax(-1).tolist()
    return [tasks.decode_ids(p[: int(k)]) for p, k in zip(pred, n.tolist())]


def exact_match(model, examples, nat: bool = False, batch: int = 256) -> float:
    hits = 0
    for i in range(0, len(examples), batch):
        chunk = examples[i : i + batch]
        out = (nat_batch if nat else greedy_batch)(model, chunk)
        hits += sum(o == ex.target for o, ex in zip(out, chunk))
    return hits / max(1, len(examples))
