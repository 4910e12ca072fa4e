"""Inputs of the causal analyses (activation patching, attribution, information flow): prompt pairs as token ids,
single-token answers, and the logit-difference metric — each bad input an `InputError` with a sentence a user can
act on, never a traceback.

Metric (Wang et al. 2022, IOI): logit[answer] − logit[wrong] at the last position. Normalised recovery
(Heimersheim & Nanda 2024): (m − m_corrupt) / (m_clean − m_corrupt): 0 = the corrupted run, 1 = the clean run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xviz.errors import InputError

TokensIn = str | Sequence[int] | torch.Tensor  # a prompt: text, or its token ids
AnswerIn = str | int


def require_lm(model) -> None:
    """A causal LM with an unembedding (the metric reads logits; DLA projects onto W_U)."""
    if getattr(model, "kind", None) != "lm" or not getattr(model, "has_lens", False):
        name = getattr(model, "name", "") or type(model).__name__
        raise InputError(
            f"{name} has no unembedding (it is not a causal language model with an LM head): logit differences, "
            "patching and logit attribution need one. Pick a causal LM."
        )


def prompt_ids(model, prompt: TokensIn) -> torch.Tensor:
    """Text (tokenised as the model's `prepare` does) or ids → (N,) long on the CPU."""
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InputError("A prompt is empty: type some text.")
        return model.prepare(prompt)["input_ids"][0].cpu()
    ids = torch.as_tensor(prompt, dtype=torch.long).reshape(-1).cpu()  # (N,)
    if ids.numel() == 0:
        raise InputError("A prompt has no tokens.")
    return ids


def token_id(model, answer: AnswerIn, what: str = "The answer") -> int:
    """One token: an id, or a text that must tokenise to exactly one token (say which tokens it splits into)."""
    if isinstance(answer, int) or (isinstance(answer, torch.Tensor) and answer.numel() == 1):
        tid = int(answer)
        if not 0 <= tid < model.vocab_size:
            raise InputError(f"{what} id {tid} is outside the vocabulary (0 … {model.vocab_size - 1}).")
        return tid
    if not str(answer):
        raise InputError(f"{what} is empty: type a token, e.g. ' Mary' (with its leading space).")
    ids = model.prepare(str(answer), add_special_tokens=False)["input_ids"][0].tolist()
    if len(ids) != 1:
        parts = ", ".join(repr(t) for t in model.decode(ids))
        raise InputError(
            f"{what} {str(answer)!r} is {len(ids)} tokens for this model ({parts}), not one: the metric compares "
            "the logits of single tokens. Use one of those tokens (often the first) or another word."
        )
    return int(ids[0])


@dataclass(frozen=True)
class PromptPairs:
    """P clean / corrupted prompts of one token length N, with each pair's answer and wrong token."""

    clean: torch.Tensor  # (P, N) long
    corrupt: torch.Tensor  # (P, N) long
    answer: torch.Tensor  # (P,) long
    wrong: torch.Tensor  # (P,) long

    @property
    def num_pairs(self) -> int:
        return self.clean.shape[0]

    @property
    def num_tokens(self) -> int:
        return self.clean.shape[1]


def _listify(x, n: int | None = None) -> list:
    if isinstance(x, (list, tuple)) and x and not isinstance(x[0], int):
        return list(x)
    if isinstance(x, torch.Tensor) and x.dim() == 2:
        return list(x)
    return [x] * (n or 1)


def _answers(x, n: int) -> list:
    if isinstance(x, torch.Tensor):
        x = x.reshape(-1).tolist()
    return list(x) if isinstance(x, (list, tuple)) else [x] * n


def _length_message(model, clean: torch.Tensor, corrupt: torch.Tensor) -> str:
    ct, rt = model.decode(clean.tolist()), model.decode(corrupt.tolist())
    return (
        f"The clean prompt is {len(ct)} tokens and the corrupted one {len(rt)}: activation patching needs equal "
        "lengths, so that position i means the same token slot in both runs. Clean: "
        + " | ".join(repr(t) for t in ct)
        + ". Corrupted: "
        + " | ".join(repr(t) for t in rt)
        + ". Change a word so both split into the same number of tokens."
    )


def prompt_pairs(model, clean, corrupt, answer, wrong) -> PromptPairs:
    """Validate and tokenise one pair or a batch of pairs (lists of equal length; answers one per pair or shared)."""
    require_lm(model)
    cl = [prompt_ids(model, p) for p in _listify(clean)]
    co = [prompt_ids(model, p) for p in _listify(corrupt, len(cl))]
    if len(cl) != len(co):
        raise InputError(f"{len(cl)} clean prompts but {len(co)} corrupted ones: give one corrupted prompt per clean.")
    for a, b in zip(cl, co):
        if a.numel() != b.numel():
            raise InputError(_length_message(model, a, b))
        if torch.equal(a, b):
            raise InputError(
                "The clean and corrupted prompts are identical: patching one into the other changes nothing. "
                "Corrupt the clean prompt (e.g. swap a name or the subject)."
            )
    if len({a.numel() for a in cl}) > 1:
        raise InputError("The prompt pairs of a batch must all have the same token length (one grid of positions).")
    ans = [token_id(model, a, "The answer") for a in _answers(answer, len(cl))]
    wro = [token_id(model, w, "The wrong answer") for w in _answers(wrong, len(cl))]
    if len(ans) != len(cl) or len(wro) != len(cl):
        raise InputError("Give one answer and one wrong answer per prompt pair (or one of each for all pairs).")
    if any(a == w for a, w in zip(ans, wro)):
        raise InputError("The answer and the wrong answer are the same token: their logit difference is always 0.")
    return PromptPairs(torch.stack(cl), torch.stack(co), torch.tensor(ans), torch.tensor(wro))


def logit_diff(last_logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor) -> torch.Tensor:
    """(R, V) logits of the last position, (R,) answer / wrong ids → (R,) logit[answer] − logit[wrong], float32."""
    rows = torch.arange(last_logits.shape[0], device=last_logits.device)
    lg = last_logits.float()
    return lg[rows, answer.to(lg.device)] - lg[rows, wrong.to(lg.device)]


def normalise(values: torch.Tensor, clean: torch.Tensor, corrupt: torch.Tensor) -> torch.Tensor:
    """(P, …) metric values → recovery (m − m_corrupt) / (m_clean − m_corrupt) per pair: 0 corrupted, 1 clean.
    A pair whose clean and corrupted metrics are equal gives NaN (its recovery is undefined)."""
    shape = (-1,) + (1,) * (values.dim() - 1)
    gap = (clean - corrupt).reshape(shape)  # (P, 1, …)
    gap = torch.where(gap.abs() < 1e-6, torch.full_like(gap, float("nan")), gap)
    return (values - corrupt.reshape(shape)) / gap
