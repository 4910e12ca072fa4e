"""Masks on real inputs: the padding mask a batch gets, packed documents, LM / MLM inputs and labels, and what each
mask does to the attention of a real text model (masked entries exactly 0, rows still summing to 1). Pure torch.
Any text model of the contract: xviz's encoders and the adapter's decoders (which take a (1, 1, N, N) mask).
A real decoder's own causal mask and padding side: masking_decoder.py."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xviz.analysis.text_run import page_limit
from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers import masks
from xviz.layers.patches import random_masking
from xviz.variants import VARIANTS, Variant, VariantParams

BASIC_KINDS = ["full", "padding", "causal", "prefix-LM", "document", "document + causal"]


def sparse_kinds() -> dict[str, Variant]:
    """The fixed sparse patterns of the attention-variant registry, by label (one source for both pages)."""
    return {v.label: v for v in VARIANTS.values() if v.pattern is not None}


def mask_kinds(padding: bool = True) -> list[str]:
    """The basic kinds, then every fixed sparse pattern of the variant registry.
    padding=False leaves out "padding" (meaningless on one packed row without [PAD])."""
    basic = BASIC_KINDS if padding else [k for k in BASIC_KINDS if k != "padding"]
    return basic + list(sparse_kinds())


@dataclass
class Packed:
    """One row of several sentences packed back to back, each as the tokenizer gives it ([CLS] … [SEP] for BERT)."""

    input_ids: torch.Tensor  # (1, N)
    token_type_ids: torch.Tensor  # (1, N)
    tokens: list[str]
    doc_ids: torch.Tensor  # (N,)
    truncated: bool


def pack(model, sentences: list[str]) -> Packed:
    """Tokenise each sentence, drop its padding, and concatenate (truncated to the page's limit: the model's
    positions, at most 512)."""
    limit = page_limit(model)
    batch = model.prepare(sentences, max_length=limit)
    ids, toks, docs = [], [], []
    for b, row in enumerate(batch.tokens):
        L = int(batch["attention_mask"][b].sum())
        ids += batch["input_ids"][b, :L].tolist()
        toks += row[:L]
        docs += [b] * L
    truncated = len(ids) > limit or batch.truncated
    ids, toks, docs = ids[:limit], toks[:limit], docs[:limit]
    t = torch.tensor([ids], device=model.device)
    return Packed(t, torch.zeros_like(t), toks, torch.tensor(docs), truncated)


def build_mask(
    kind: str,
    n: int,
    doc_ids: torch.Tensor | None = None,
    real: torch.Tensor | None = None,
    prefix: int = 4,
    window: int = 4,
    seed: int = 0,
) -> torch.Tensor:
    """(n, n) bool, True = may attend. `real` (n,) marks non-[PAD] tokens (for "padding");
    `doc_ids` (n,) the document of each token (for "document")."""
    if kind == "full":
        return torch.ones(n, n, dtype=torch.bool)
    if kind == "padding":
        return masks.padding((real if real is not None else torch.ones(n, dtype=torch.bool))[None].long())[0]
    if kind == "causal":
        return masks.causal(n)
    if kind == "prefix-LM":
        return masks.prefix_lm(n, min(max(prefix, 0), n))
    if kind in ("document", "document + causal"):
        d = doc_ids if doc_ids is not None else torch.zeros(n, dtype=torch.long)
        return masks.document(d, is_causal=kind.endswith("causal"))
    sparse = sparse_kinds()
    if kind in sparse:  # the "window" slider sets every size knob a pattern reads (window, stride, block)
        size = max(1, window)
        params = VariantParams(window=size, stride=size, block=max(1, min(size, n // 4)), seed=seed, causal=False)
        return sparse[kind].mask(n, params)
    raise InputError(f"Unknown mask {kind!r}; choose one of {', '.join(mask_kinds())}.")


def lm_labels(
    ids: torch.Tensor, kind: str, prefix: int = 0, doc_ids: torch.Tensor | None = None, ignore_index: int = -100
) -> torch.Tensor:
    """Next-token targets of an LM on the same row: label[i] = ids[i+1] (shifted), ignore_index where nothing is
    predicted — the last position; inside the prefix (prefix-LM: targets i+1 < prefix); across a document
    boundary (packing: the last token of a document must not predict the next document's first). (N,)"""
    ids = torch.as_tensor(ids)
    labels = torch.full_like(ids, ignore_index)
    labels[:-1] = ids[1:]
    if kind == "prefix-LM":
        labels[: max(prefix - 1, 0)] = ignore_index
    if kind.startswith("document") and doc_ids is not None:
        d = torch.as_tensor(doc_ids)
        labels[:-1][d[1:] != d[:-1]] = ignore_index
    return labels


@dataclass
class MaskedAttention:
    probs: torch.Tensor  # (L, H, N, N) attention probabilities of the real model under the mask
    mask: torch.Tensor  # (N, N) the mask it received
    max_masked: float  # largest probability on a masked entry (exactly 0)
    max_row_error: float  # max |Σ_j p_ij − 1| over every row of every layer and head


def attention_under_mask(
    model, input_ids: torch.Tensor, mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
) -> MaskedAttention:
    """Run the text model on one row with a full (N, N) bool mask (a (1, N, N) attention_mask for xviz's own
    models, (1, 1, N, N) for the Hugging Face adapter, which then uses it instead of its own) and record every
    layer's probabilities."""
    n = input_ids.shape[-1]
    if mask.shape != (n, n):
        raise InputError(f"The mask is {tuple(mask.shape)} but the input has {n} tokens.")
    if not mask.any(-1).all():
        raise InputError("Every query must be allowed at least one key (a row of the mask is all False).")
    am = model.full_attention_mask(mask)  # (1, N, N) for xviz's models, (1, 1, N, N) for HF's custom-mask form
    kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    with torch.no_grad(), record(model, names="blocks.*.attn.hook_probs") as rec:
        model(input_ids=input_ids.to(model.device), attention_mask=am, **kw)
    probs = rec.stack("probs")[:, 0].float()  # (L, 1, H, N, N) → (L, H, N, N)
    max_masked = (
        float(probs.masked_select(~mask.cpu()[None, None].expand_as(probs)).abs().max()) if (~mask).any() else 0.0
    )
    row_err = float((probs.double().sum(-1) - 1).abs().max())
    return MaskedAttention(probs, mask.cpu(), max_masked, row_err)


def mae_patch_mask(image_size: int, patch: int, ratio: float, seed: int):
    """MAE random masking of one image's patch grid: (is_masked (h, w) bool, number kept)."""

    g = image_size // patch
    _, is_masked, _ = random_masking(1, g * g, ratio, generator=torch.Generator().manual_seed(seed))
    return is_masked[0].reshape(g, g), int((~is_masked).sum())  # (N,) → (h, w)


# ---- inputs and labels, as tables of tokens -------------------------------------------------------------------


def _tok(tokenizer, i: int) -> str:
    return tokenizer.id_to_token(int(i)) or f"<{int(i)}>"


def mlm_example(model, text: str, seed: int, prob: float = 0.15) -> tuple[list[dict], masks.MLMMasks]:
    """BERT's MLM corruption of one sentence, and a row per token: token, model input, label, what happened."""
    batch = model.prepare(text)
    ids, tokens = batch["input_ids"][0].cpu(), batch.tokens[0]
    special = torch.tensor(batch.special[0])
    tok = model.tokenizer
    out = masks.mlm_mask(
        ids,
        special,
        torch.Generator().manual_seed(seed),
        prob,
        mask_token_id=tok.token_to_id("[MASK]"),
        vocab_size=model.cfg.vocab_size,
    )

    def what(i: int) -> str:
        if out.replaced[i]:
            return "→ [MASK] (80 %)"
        if out.random[i]:
            return "→ random token (10 %)"
        if out.kept[i]:
            return "kept, still predicted (10 %)"
        return "special: never selected" if special[i] else ""

    rows = [
        {
            "position": i,
            "token": tokens[i],
            "model input": _tok(tok, out.inputs[i]),
            "label": _tok(tok, out.labels[i]) if out.labels[i] >= 0 else "−100 (ignored)",
            "selected": what(i),
        }
        for i in range(len(tokens))
    ]
    return rows, out


def lm_rows(tokens: list[str], ids: torch.Tensor, labels: torch.Tensor, model) -> list[dict]:
    """One row per position: what the model reads there and the token it must predict (−100 = nothing)."""
    shown = model.decode([int(t) for t in labels.tolist() if t >= 0])
    names = iter(shown)
    return [
        {"position": i, "input": tokens[i], "label (next token)": next(names) if labels[i] >= 0 else "−100 (ignored)"}
        for i in range(len(tokens))
    ]


def batch_table(tokens: list[list[str]], attention_mask: torch.Tensor) -> list[dict]:
    """The padded batch as the model receives it: one row per sentence, 'token (mask bit)' per position."""
    am = attention_mask.cpu()
    return [{f"{j}": f"{t} ({int(am[b, j])})" for j, t in enumerate(row)} for b, row in enumerate(tokens)]


def padded_batch_attention(model, sentences: list[str]) -> tuple[object, MaskedAttention]:
    """Run the padded batch with its own (B, N) attention mask; check the padded keys got exactly 0 in every
    row of every sentence. Returns (batch, result for the whole batch: probs (L, B, H, N, N))."""
    batch = model.prepare(sentences)
    with torch.no_grad(), record(model, names="blocks.*.attn.hook_probs") as rec:
        model(**batch)
    probs = rec.stack("probs").float()  # (L, B, H, N, N)
    keys = batch["attention_mask"].bool().cpu()  # (B, N)
    pad = ~keys[None, :, None, None, :].expand_as(probs)
    max_masked = float(probs[pad].abs().max()) if pad.any() else 0.0
    row_err = float((probs.double().sum(-1) - 1).abs().max())
    return batch, MaskedAttention(probs, masks.padding(keys), max_masked, row_err)
