"""Attribution patching (Nanda 2023; Syed, Rager & Conmy 2023): the first-order Taylor estimate of every patch from
one forward and one backward pass on the corrupted prompt,

    metric(patched) ≈ metric(corrupt) + (a_clean − a_corrupt) · ∂metric/∂a |_corrupt,

summed over the patched slice (a position of a stream, or every position of a head's q / k / v / z / pattern).
The gradient goes through `xviz.record(..., grads=True)` and `torch.autograd.grad` (never `.backward()` on the
shared model); each site's hook adds a zero leaf, so the graph exists even when the weights do not require grad.
The faithfulness curve re-patches the top-k heads together (real forwards) and reads the metric they recover.
"""

from __future__ import annotations

import torch

import xviz
from xviz.analysis.circuit_inputs import PromptPairs, logit_diff, normalise
from xviz.analysis.patching import SITES, PatchResult, baselines, grid_size, patch_head_set


def _leaf_edit(x: torch.Tensor) -> torch.Tensor:
    """x + 0 with a fresh leaf: the recorded tensor requires grad, so its gradient can be asked for."""
    return x + torch.zeros_like(x, requires_grad=True)


def _corrupt_grads(model, pairs: PromptPairs, names: list[str], extra: tuple = ()):
    """One forward of the corrupted prompts with the metric's graph, one backward: (metric (P,), recording with
    `<name>` and `<name>_grad` for every name, and the `extra` hooks' values)."""
    edits = dict.fromkeys(names, _leaf_edit)
    with torch.enable_grad(), xviz.record(model, names=[*names, *extra], grads=True, edits=edits) as rec:
        out = model(input_ids=pairs.corrupt.to(model.device), logits_to_keep=1, use_cache=False)
        metric = logit_diff(out.logits[:, -1], pairs.answer, pairs.wrong)  # (P,)
        rec.backward(metric.sum())  # rows are independent: the sum's gradient is each pair's own
    return metric.detach().cpu(), rec


def _reduce(prod: torch.Tensor, dim: int) -> torch.Tensor:
    """(P, …) elementwise product → (P, n): summed over every axis but the batch and the patched one."""
    keep = prod.movedim(dim, 1)  # (P, n, …)
    return keep.reshape(keep.shape[0], keep.shape[1], -1).sum(-1)  # (P, n, rest) → (P, n)


def attribution_sweep(model, pairs: PromptPairs, site: str, progress=None) -> PatchResult:
    """The estimated patched metric for every cell of `site` (as `patching.sweep`), from one forward/backward."""
    L = model.num_layers
    if progress:
        progress(0.0, "The clean run")
    grid_size(model, site, pairs.num_tokens)  # validates the site
    spec = SITES[site]
    names = [spec.hook.format(l=i) for i in range(L)]
    if site == "mlp_out":
        extra = [f"blocks.{i}.hook_resid_mid" for i in range(L)]
        mc, _, rc, _ = baselines(model, pairs, names + extra)
        if progress:
            progress(0.4, "The corrupted run and its backward pass")
        mx, rx = _corrupt_grads(model, pairs, names, tuple(extra))
        deltas = [(rc[n] - rc[m]) - (rx[n] - rx[m]) for n, m in zip(names, extra)]  # clean − corrupt MLP out
    else:
        mc, _, rc, _ = baselines(model, pairs, names)
        if progress:
            progress(0.4, "The corrupted run and its backward pass")
        mx, rx = _corrupt_grads(model, pairs, names)
        deltas = [rc[n] - rx[n] for n in names]
    attr = [_reduce(d * rx[f"{n}_grad"], spec.dim) for d, n in zip(deltas, names)]  # L × (P, n)
    values = mx[:, None, None] + torch.stack(attr, 1)  # (P, L, n)
    return PatchResult(site, values, mc, mx)


def top_heads(scores: torch.Tensor, k: int) -> list[tuple[int, int]]:
    """The k (layer, head) cells of an (L, H) score grid with the largest values, best first."""
    H = scores.shape[1]
    order = scores.flatten().argsort(descending=True)[:k]
    return [divmod(int(i), H) for i in order]


def faithfulness(
    model, pairs: PromptPairs, scores: torch.Tensor, max_k: int, progress=None
) -> tuple[list[int], torch.Tensor]:
    """Patch the top-k heads of `scores` (L, H) together, k = 0 … max_k (batched): (ks, recovery (K+1, P),
    normalised: 0 = corrupted, 1 = clean)."""
    order = top_heads(scores, max_k)
    ks = list(range(len(order) + 1))
    vals = patch_head_set(model, pairs, [order[:k] for k in ks], progress)  # (K+1, P)
    mc, mx, _, _ = baselines(model, pairs)
    return ks, normalise(vals.T, mc, mx).T  # (P, K+1) normalised → (K+1, P)
