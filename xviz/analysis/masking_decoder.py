"""Masks of a real causal decoder: the causal mask combined with the key padding of a batch padded on the left
or on the right, the attention it produces, and the check that padding side does not change the real tokens'
outputs when positions are handled (position_ids counted over real tokens only, as HF `generate` does).

Pure torch; any model of the contract with `is_causal` and `prepare(..., padding_side=)` (the HF adapter)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers import masks


@dataclass
class SideRun:
    side: str  # "left" | "right"
    tokens: list[list[str]]
    attention_mask: torch.Tensor  # (B, N) 1 = real token
    mask: torch.Tensor  # (B, N, N) bool: causal ∧ real key — what every layer and head applies
    probs: torch.Tensor  # (L, B, H, N, N)
    real_logits: list[torch.Tensor]  # per sentence: (n_b, V) logits of its real tokens, in order
    max_masked: float  # largest probability on a masked entry, over real query rows (exactly 0)
    max_row_error: float  # max |Σ_j p_ij − 1| over real query rows


@dataclass
class PaddingSides:
    left: SideRun
    right: SideRun
    max_logit_diff: float  # max |logits(left) − logits(right)| over every real token (rounding only)
    max_prob_diff: float  # same for attention among real tokens (every layer and head)
    max_logit_diff_unshifted: float  # left padding without position_ids (positions start at the pads)


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, N) positions counted over real tokens only: 0 at each sentence's first real token (pads get 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def decoder_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """The boolean mask a decoder applies to a padded batch: causal ∧ key is real. (B, N) → (B, N, N)."""
    am = attention_mask.bool().cpu()
    return masks.causal(am.shape[-1])[None] & am[:, None, :]


def run_side(model, sentences: list[str], side: str, max_tokens: int = 512, positions: bool = True) -> SideRun:
    """Record every layer's probabilities of the decoder on the batch padded on `side`."""
    if not model.is_causal:
        raise InputError(f"{model.name} is not a causal decoder: padding side matters only for decoders.")
    batch = model.prepare(sentences, padding_side=side, max_length=max_tokens)
    am = batch["attention_mask"]
    extra = {"position_ids": position_ids(am)} if positions else {}
    with torch.no_grad(), record(model, names="blocks.*.attn.hook_probs") as rec:
        out = model(**batch, **extra)
    probs = rec.stack("probs").float()  # (L, B, H, N, N)
    real = am.bool().cpu()  # (B, N)
    mask = decoder_mask(am)
    rows = real[None, :, None, :, None].expand_as(probs)  # real query rows
    forbidden = ~mask[None, :, None] & rows
    max_masked = float(probs[forbidden].abs().max()) if forbidden.any() else 0.0
    row_sums = probs.double().sum(-1)  # (L, B, H, N)
    row_err = float((row_sums - 1).abs()[real[None, :, None].expand_as(row_sums)].max())
    logits = out.logits.float().cpu()  # (B, N, V)
    return SideRun(
        side, batch.tokens, am.cpu(), mask, probs, [logits[b][real[b]] for b in range(len(real))], max_masked, row_err
    )


def _real_probs(run: SideRun, b: int) -> torch.Tensor:
    """(L, H, n_b, n_b) attention among sentence b's real tokens."""
    idx = torch.nonzero(run.attention_mask[b]).flatten()
    return run.probs[:, b][..., idx[:, None], idx[None, :]]


def compare_sides(model, sentences: list[str], max_tokens: int = 512) -> PaddingSides:
    """The same sentences padded left and right (positions over real tokens), and left without position_ids."""
    left, right = (run_side(model, sentences, s, max_tokens) for s in ("left", "right"))
    unshifted = run_side(model, sentences, "left", max_tokens, positions=False)
    n = len(left.real_logits)
    logit_diff = max(float((left.real_logits[b] - right.real_logits[b]).abs().max()) for b in range(n))
    prob_diff = max(float((_real_probs(left, b) - _real_probs(right, b)).abs().max()) for b in range(n))
    unshift = max(float((unshifted.real_logits[b] - right.real_logits[b]).abs().max()) for b in range(n))
    return PaddingSides(left, right, logit_diff, prob_diff, unshift)
