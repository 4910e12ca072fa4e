"""Attention masks as boolean tensors (docs/ARCHITECTURE.md: True = may attend, shape [..., Nq, Nk]) and BERT's MLM
masking.

The sparse patterns (sliding_window, longformer, bigbird, …) are in xviz.layers.sparse_masks; the pages list them
from the attention-variant registry (xviz.variants).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def padding(lengths_or_mask, n: int | None = None) -> torch.Tensor:
    """Key-padding mask as the encoder uses it: every query may attend to every *real* key, never to [PAD].

    lengths_or_mask: sequence lengths (B,) (list or tensor), or an attention_mask (B, N) of 0/1.
    Returns (B, N, N); row i of sequence b is attention_mask[b] (pad queries too: BERT masks keys only)."""
    t = torch.as_tensor(lengths_or_mask)
    if t.dim() == 2:
        keys = t.bool()  # (B, N)
    elif t.dim() == 1:
        n = int(t.max()) if n is None else n
        if int(t.max()) > n:
            raise ValueError(f"a length {int(t.max())} exceeds n = {n}")
        keys = torch.arange(n)[None] < t[:, None]  # (B, N)
    else:
        raise ValueError(f"expected lengths (B,) or an attention mask (B, N), got shape {tuple(t.shape)}")
    N = keys.shape[1]
    return keys[:, None, :].expand(-1, N, -1).clone()  # (B, 1, N) → (B, N, N)


def causal(n: int, n_keys: int | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Decoder mask: query i attends to key j ≤ i (lower triangle incl. the diagonal). (n, n_keys)

    With n_keys > n (a KV cache holding n_keys − n earlier positions) the queries are the last n positions:
    query i sits at position i + n_keys − n, so the triangle is shifted right by that offset."""
    n_keys = n if n_keys is None else n_keys
    return torch.ones(n, n_keys, dtype=torch.bool, device=device).tril(diagonal=n_keys - n)


def prefix_lm(n: int, prefix: int) -> torch.Tensor:
    """Prefix-LM (UniLM / T5): the first `prefix` positions see each other bidirectionally; the rest is causal
    and sees the whole prefix. mask[i, j] = j ≤ i or j < prefix. (n, n)"""
    if not 0 <= prefix <= n:
        raise ValueError(f"prefix must be in [0, {n}], got {prefix}")
    j = torch.arange(n)
    return causal(n) | (j[None, :] < prefix).expand(n, n)


def document(doc_ids, is_causal: bool = False) -> torch.Tensor:
    """Packing mask: several documents in one row attend only within their own document (block diagonal when
    the documents are contiguous); with is_causal also only to earlier positions.
    doc_ids (N,) or (B, N) of ints → (N, N) or (B, N, N)."""
    d = torch.as_tensor(doc_ids)
    m = d[..., :, None] == d[..., None, :]  # (..., N, N)
    if is_causal:
        m = m & causal(d.shape[-1])
    return m


def doc_ids_from_lengths(lengths) -> torch.Tensor:
    """[3, 2] → tensor([0, 0, 0, 1, 1]): the document index of each packed position."""
    return torch.repeat_interleave(torch.arange(len(lengths)), torch.as_tensor(lengths))


@dataclass
class MLMMasks:
    """BERT masking of one batch (Devlin et al. 2019 §3.1): `inputs` go into the model, `labels` are the targets
    (-100 = not predicted). selected = replaced ∪ random ∪ kept (disjoint)."""

    inputs: torch.Tensor
    labels: torch.Tensor
    selected: torch.Tensor
    replaced: torch.Tensor  # → [MASK] (80 % of selected)
    random: torch.Tensor  # → a random token (10 %)
    kept: torch.Tensor  # unchanged but still predicted (10 %)

    def __iter__(self):  # inputs, labels, selected, replaced, random, kept = mlm_mask(...)
        return iter((self.inputs, self.labels, self.selected, self.replaced, self.random, self.kept))


def mlm_mask(
    token_ids: torch.Tensor,
    special_mask: torch.Tensor,
    generator: torch.Generator,
    prob: float = 0.15,
    mask_token_id: int = 103,
    vocab_size: int = 30522,
    ignore_index: int = -100,
) -> MLMMasks:
    """Select each non-special token with probability `prob`; of the selected, 80 % become [MASK], 10 % a
    random token from the vocabulary, 10 % stay. Same draws as HF's DataCollatorForLanguageModeling (Bernoulli
    per token), from the given generator only. token_ids, special_mask: (B, N) or (N,)."""
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    ids = torch.as_tensor(token_ids)
    special = torch.as_tensor(special_mask).bool()
    draw = lambda p: torch.rand(ids.shape, generator=generator) < p  # noqa: E731
    selected = draw(prob) & ~special
    replaced = selected & draw(0.8)
    random = selected & ~replaced & draw(0.5)  # half of the remaining 20 %
    kept = selected & ~replaced & ~random
    rand_tokens = torch.randint(vocab_size, ids.shape, generator=generator, dtype=ids.dtype)
    inputs = torch.where(replaced, torch.full_like(ids, mask_token_id), ids)
    inputs = torch.where(random, rand_tokens, inputs)
    labels = torch.where(selected, ids, torch.full_like(ids, ignore_index))
    return MLMMasks(inputs, labels, selected, replaced, random, kept)
