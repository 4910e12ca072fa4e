"""Beam search with its tree, following transformers' `_beam_search` (v5) step for step, on a KV cache.

Each step scores every continuation of every running beam by its summed log-probability
s(y₁…y_t) = Σ log p(y_i | y_<i), keeps the top K = max(2, 1 + #eos) · W candidates, continues the best W that did
not finish, and offers the finished ones (eos, or the length limit) among the top W to the list of final beams with
the length penalty of transformers: score = s / len^α, len = generated tokens (Wu et al. 2016's GNMT penalty
((5 + len)/6)^α is *not* what transformers does). early_stopping=False stops when no running beam can beat the
worst final one at its current length; True stops once W beams are final; "never" assumes the best length.
Width 1 is greedy decoding. The tree keeps every candidate (expansion) with its score and what became of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

import xviz

NEG = -1.0e9


@dataclass
class BeamNode:
    id: int
    step: int  # 0 = first generated token
    parent: int  # node id of the running beam it extends (-1 = the prompt)
    token: int
    score: float  # summed log-probability so far
    status: str = "pruned"  # "running" (continued), "finished" (offered to the final list), "pruned"
    final_score: float | None = None  # score / len^α when finished


@dataclass
class BeamResult:
    nodes: list[BeamNode] = field(default_factory=list)
    beams: list[tuple[list[int], float, int]] = field(default_factory=list)  # (tokens, final score, last node id)
    steps: int = 0
    cache_shapes: list[tuple] = field(default_factory=list)  # per step, (W, Hkv, t, D)


@dataclass
class _State:
    tokens: list[list[int]]  # running beams' generated tokens
    scores: torch.Tensor  # (W,) summed log-probs (NEG for unused beams at the start)
    nodes: list[int]  # node id of each running beam's last token
    finished: list[tuple[float, list[int], int]]  # (penalised score, tokens, node id), best first, ≤ W
    improvable: bool = True


def _candidates(res: BeamResult, st: _State, logprobs: torch.Tensor, K: int, step: int):
    """Top-K (beam, token) continuations of the (W, V) log-probs; adds them to the tree."""
    W, V = logprobs.shape
    acc = (logprobs + st.scores[:, None]).reshape(-1)  # (W·V,)
    vals, idx = acc.topk(K)  # sorted, best first
    src, tok = idx // V, idx % V
    ids = []
    for v, s, t in zip(vals.tolist(), src.tolist(), tok.tolist()):
        node = BeamNode(len(res.nodes), step, st.nodes[s], t, v)
        res.nodes.append(node)
        ids.append(node.id)
    return vals, src, tok, ids


def _finish(res, st, vals, src, tok, ids, hits, gen_len, alpha, early_stopping, W):
    """Offer the top-W candidates that hit eos / the length limit to the final list (transformers' rules)."""
    full = len(st.finished) == W and early_stopping is True
    if full or not st.improvable:
        return
    merged = list(st.finished)
    for j in range(W):
        if hits[j]:
            score = float(vals[j]) / (gen_len**alpha)
            res.nodes[ids[j]].status, res.nodes[ids[j]].final_score = "finished", score
            merged.append((score, st.tokens[int(src[j])] + [int(tok[j])], ids[j]))
    st.finished = sorted(merged, key=lambda x: -x[0])[:W]


def _continue(res, st, vals, src, tok, ids, hits, W) -> torch.Tensor:
    """The best W candidates that did not finish become the running beams; returns their source rows (W,)."""
    live = vals + hits.float() * NEG
    sel = live.topk(W).indices
    for j in sel.tolist():
        if not hits[j]:
            res.nodes[ids[j]].status = "running"
    st.tokens = [st.tokens[int(src[j])] + [int(tok[j])] for j in sel.tolist()]
    st.scores, st.nodes = live[sel], [ids[j] for j in sel.tolist()]
    return src[sel]


def _improvable(st: _State, W: int, cur_gen: int, max_new: int, alpha: float, early_stopping) -> bool:
    """transformers' `_check_early_stop_heuristic`: can the best running beam still beat the worst final one?"""
    best_len = max_new if (early_stopping == "never" and alpha > 0) else cur_gen
    best = float(st.scores[0]) / (best_len**alpha)
    worst = st.finished[-1][0] if len(st.finished) == W else NEG
    return st.improvable and best > worst


@torch.no_grad()
def beam_search(
    model,
    input_ids: torch.Tensor,
    num_beams: int = 3,
    max_new_tokens: int = 8,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    eos_id: int | None = None,
) -> BeamResult:
    """Beam search of width W = num_beams; returns the tree and the final beams (best first)."""
    W, alpha = int(num_beams), float(length_penalty)
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1).to(model.device)
    K = max(2, 1 + (eos_id is not None)) * W
    st = _State([[] for _ in range(W)], torch.tensor([0.0] + [NEG] * (W - 1)), [-1] * W, [])
    res, feed, cache = BeamResult(), ids, None
    for step in range(max_new_tokens):
        with xviz.record(model, names=[]):
            out = model(input_ids=feed, cache=cache, use_cache=True, logits_to_keep=1)
        cache = out.cache
        logprobs = out.logits[:, -1].float().cpu().log_softmax(-1)  # (rows, V)
        logprobs = logprobs.expand(W, -1) if logprobs.shape[0] == 1 else logprobs  # the prefill ran one row
        vals, src, tok, node_ids = _candidates(res, st, logprobs, K, step)
        hits = (tok == eos_id) if eos_id is not None else torch.zeros(K, dtype=torch.bool)
        if step + 1 >= max_new_tokens:
            hits = torch.ones(K, dtype=torch.bool)
        _finish(res, st, vals, src, tok, node_ids, hits, step + 1, alpha, early_stopping, W)  # uses old beams
        rows = _continue(res, st, vals, src, tok, node_ids, hits, W)
        res.steps = step + 1
        st.improvable = _improvable(st, W, step + 1, max_new_tokens, alpha, early_stopping)
        if not st.improvable or bool(hits.all()) or (len(st.finished) == W and early_stopping is True):
            break
        cache.reorder_cache(rows if out.logits.shape[0] == W else torch.zeros(W, dtype=torch.long))
        res.cache_shapes.append(tuple(cache.layers[0].keys.shape))  # (W, Hkv, t, D)
        feed = torch.tensor([[t[-1]] for t in st.tokens], device=model.device)  # (W, 1)
    res.beams = [(toks, score, node) for score, toks, node in st.finished]
    return res
