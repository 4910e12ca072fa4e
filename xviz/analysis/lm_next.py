"""Next-token prediction of a causal LM, the logit lens, and head ablation — on token ids (pure torch).

- Next token: p = softmax(logits[last]) over the vocabulary.
- Logit lens (nostalgebraist 2020): the final norm + unembedding applied to every layer's residual stream
  (`blocks.{i}.hook_resid_post`; row "emb" is `blocks.0.hook_resid_pre`); the last layer's lens equals the logits.
- Ablation (Wang et al. 2022): a head's output z_h (before the output projection) is set to
  0 ("zero") or to its mean over the prompt's positions ("mean") through a context-scoped `edits` hook on
  `blocks.{l}.attn.hook_z`, then the model re-runs; the shared model is never touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

import xviz


@dataclass(frozen=True)
class NextToken:
    ids: list[int]  # top-k token ids, most likely first
    probs: list[float]  # their probabilities
    logprobs: torch.Tensor  # (V,) float32 log-softmax of the last position
    logits: torch.Tensor  # (V,) float32 logits of the last position


def _ids(input_ids: torch.Tensor, model) -> torch.Tensor:
    """(N,) or (1, N) ids → (1, N) long on the model's device."""
    ids = torch.as_tensor(input_ids, dtype=torch.long)
    return (ids[None] if ids.dim() == 1 else ids).to(model.device)


@torch.no_grad()
def last_logits(model, input_ids: torch.Tensor, edits: dict | None = None) -> torch.Tensor:
    """Logits of the last position (V,) float32; `edits` as in `xviz.record` (interventions, nothing recorded)."""
    ids = _ids(input_ids, model)
    if not edits:  # no recorder at all: HF's fused path with its is_causal shortcut
        return model(input_ids=ids, logits_to_keep=1).logits[0, -1].float().cpu()  # (V,)
    with xviz.record(model, names=[], edits=edits):
        out = model(input_ids=ids, logits_to_keep=1)
    return out.logits[0, -1].float().cpu()  # (V,)


def next_token(model, input_ids: torch.Tensor, k: int = 10, edits: dict | None = None) -> NextToken:
    """The next-token distribution after `input_ids`: top-k ids and probabilities, full log-probs."""
    logits = last_logits(model, input_ids, edits)
    return distribution(logits, k)


def distribution(logits: torch.Tensor, k: int = 10) -> NextToken:
    logprobs = logits.float().log_softmax(-1)  # (V,)
    top = logprobs.topk(min(k, logprobs.numel()))
    return NextToken(top.indices.tolist(), top.values.exp().tolist(), logprobs, logits.float())


@dataclass(frozen=True)
class LogitLens:
    layers: list[str]  # row labels: "emb", "0", …, "L-1"
    positions: list[int]  # the positions shown (the last `window` of the prompt)
    top_ids: torch.Tensor  # (L+1, W) each layer's most likely next token at each shown position
    top_probs: torch.Tensor  # (L+1, W) its probability
    answer_id: int  # the final answer (model's top token at the last position unless given)
    answer_rank: torch.Tensor  # (L+1,) rank of the answer at the last position (0 = top)
    answer_prob: torch.Tensor  # (L+1,) its probability
    logits: torch.Tensor  # (V,) the model's own final logits at the last position


LENS_ROWS = 512  # rows per unembedding matmul: one read of the (V, C) matrix serves many layers × positions


@torch.no_grad()
def logit_lens(model, input_ids: torch.Tensor, answer_id: int | None = None, window: int = 16) -> LogitLens:
    """Every layer's guess of the next token at the last `window` positions: lens(resid) =
    unembed(final_norm(resid)). The unembedding is (V, C) (49152 × 576 for SmolLM2), so the lens costs
    2·(L+1)·W·C·V FLOPs: the window keeps it to one batched matmul of ~0.5 s at W = 16."""
    ids = _ids(input_ids, model)
    L, N = model.num_layers, ids.shape[1]
    names = ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(L)]
    with xviz.record(model, names=names) as rec:  # float32: the last row must equal logits
        out = model(input_ids=ids, logits_to_keep=1)
    final = out.logits[0, -1].float().cpu()  # (V,)
    answer = int(final.argmax()) if answer_id is None else int(answer_id)
    start = max(0, N - int(window))
    resid = torch.stack([rec[n][0, start:] for n in names])  # (L+1, W, C)
    flat = resid.reshape(-1, resid.shape[-1])  # ((L+1)·W, C)
    best_i, best_p, ans_lp, ranks = [], [], [], []
    for chunk in flat.split(LENS_ROWS):
        lp = model.lens(chunk).float().log_softmax(-1).cpu()  # (rows, V)
        best = lp.max(-1)
        best_i.append(best.indices)
        best_p.append(best.values.exp())
        a = lp[:, answer]
        ans_lp.append(a)
        ranks.append((lp > a[:, None]).sum(-1))
    shape = resid.shape[:2]
    rank = torch.cat(ranks).reshape(shape)[:, -1]  # (L+1,) at the last position
    prob = torch.cat(ans_lp).reshape(shape)[:, -1].exp()
    return LogitLens(
        ["emb"] + [str(i) for i in range(L)],
        list(range(start, N)),
        torch.cat(best_i).reshape(shape),
        torch.cat(best_p).reshape(shape),
        answer,
        rank,
        prob,
        final,
    )


# ---- ablation -------------------------------------------------------------------------------------------------
def _ablate_fn(heads: list[int], mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """z (B, H, N, D) → z with the given heads zeroed or replaced by their mean over positions."""
    if mode not in ("zero", "mean"):
        raise ValueError(f"ablation mode must be 'zero' or 'mean', not {mode!r}")

    def edit(z: torch.Tensor) -> torch.Tensor:
        idx = torch.tensor(heads, device=z.device)
        if mode == "zero":
            return z.index_fill(1, idx, 0.0)
        z = z.clone()
        z[:, idx] = z[:, idx].mean(dim=2, keepdim=True).expand_as(z[:, idx])  # mean over N
        return z

    return edit


def ablation_edits(pairs: Iterable[tuple[int, int]], mode: str = "zero") -> dict[str, Callable]:
    """{(layer, head), …} → `edits` for xviz.record on `blocks.{layer}.attn.hook_z`."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in pairs:
        by_layer.setdefault(int(layer), []).append(int(head))
    return {f"blocks.{layer}.attn.hook_z": _ablate_fn(sorted(set(h)), mode) for layer, h in by_layer.items()}


def kl_divergence(logp: torch.Tensor, logq: torch.Tensor) -> float:
    """KL(p ‖ q) = Σ p (log p − log q), in nats, from log-probabilities (V,)."""
    p = logp.exp()
    return float((p * (logp - logq)).nan_to_num(0.0).sum())


@dataclass(frozen=True)
class Ablation:
    before: NextToken
    after: NextToken
    kl: float  # KL(before ‖ after) of the next-token distribution
    logit_diff_before: float | None  # logit[a] − logit[b] when a token pair is given
    logit_diff_after: float | None


def ablate(
    model,
    input_ids: torch.Tensor,
    pairs: Iterable[tuple[int, int]],
    mode: str = "zero",
    k: int = 10,
    token_pair: tuple[int, int] | None = None,
) -> Ablation:
    """Re-run with the heads in `pairs` ablated; the change in the next-token distribution."""
    before = next_token(model, input_ids, k)
    edits = ablation_edits(list(pairs), mode)
    after = next_token(model, input_ids, k, edits) if edits else before
    diff = (lambda n: float(n.logits[token_pair[0]] - n.logits[token_pair[1]])) if token_pair else (lambda n: None)
    return Ablation(before, after, kl_divergence(before.logprobs, after.logprobs), diff(before), diff(after))
