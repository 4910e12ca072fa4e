"""Text in, token batches out, for the Hugging Face adapter (the one place its tokenizer is used)."""

from __future__ import annotations

import torch

from xviz.errors import InputError, ModelLoadError
from xviz.inputs.batch import Batch
from xviz.inputs.text import clean_text

DEFAULT_MAX_TOKENS = 2048  # a page asks for less; recording cost grows with N²


class TextPrepMixin:
    """prepare_text / decode for an HFModel with a `tokenizer` (a transformers tokenizer)."""

    tokenizer: object
    kind: str

    def _tok(self):
        if self.tokenizer is None:
            raise ModelLoadError(f"{self.name or 'This model'} was loaded without a tokenizer: pass input_ids.")
        return self.tokenizer

    def _encode(self, item, limit: int, add_special_tokens: bool) -> tuple[list[int], bool]:
        tok = self._tok()
        if isinstance(item, tuple):
            ids = tok(clean_text(item[0]), clean_text(item[1]), add_special_tokens=add_special_tokens)["input_ids"]
        else:
            ids = tok(clean_text(item), add_special_tokens=add_special_tokens)["input_ids"]
        if not ids:
            raise InputError("The text gives no tokens.")
        return (ids[:limit], True) if len(ids) > limit else (ids, False)

    def pad_id(self) -> int:
        tok = self._tok()
        for pid in (tok.pad_token_id, tok.eos_token_id, 0):
            if pid is not None:
                return int(pid)
        return 0

    def prepare_text(
        self,
        text,
        max_length: int | None = None,
        padding_side: str = "right",
        add_special_tokens: bool = True,
        target: str | None = None,
    ) -> Batch:
        """str, (text_a, text_b) or a list of them → a padded Batch on the model's device (`model(**batch)`).
        Longer inputs are cut to `max_length` (default: the model's positions, at most 2048) and flagged.
        Encoder–decoders: `target` (teacher-forced decoder input, after the decoder start token)."""
        if padding_side not in ("left", "right"):
            raise InputError("padding_side must be 'left' or 'right'.")
        items = list(text) if isinstance(text, list) else [text]
        if not items:
            raise InputError("No text given.")
        limit = min(max_length or DEFAULT_MAX_TOKENS, self.max_positions or DEFAULT_MAX_TOKENS)
        encs = [self._encode(it, limit, add_special_tokens) for it in items]
        batch = self._pad([ids for ids, _ in encs], padding_side)
        batch.truncated = any(t for _, t in encs)
        batch.texts = items
        if target is not None and self.kind == "seq2seq":
            batch["decoder_input_ids"] = self._decoder_inputs(target, len(items))
        return batch

    def _pad(self, seqs: list[list[int]], side: str, length: int = 0) -> Batch:
        """Pad to the longest sequence (or to `length`, if longer: SigLIP's max_length padding)."""
        n, pad = max(length, *(len(s) for s in seqs)), self.pad_id()
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):
            sl = slice(n - len(s), n) if side == "left" else slice(0, len(s))
            ids[i, sl], mask[i, sl] = torch.tensor(s), 1
        batch = Batch(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))
        special = set(self._tok().all_special_ids)
        batch.tokens = [self.decode(row) for row in ids.tolist()]
        batch.special = [
            [bool(m == 0 or t in special) for t, m in zip(r, mr)] for r, mr in zip(ids.tolist(), mask.tolist())
        ]
        return batch

    def _decoder_inputs(self, target: str, batch_size: int) -> torch.Tensor:
        tok, cfg = self._tok(), self.hf_model.config
        start = cfg.decoder_start_token_id if cfg.decoder_start_token_id is not None else cfg.bos_token_id
        ids = [int(start)] + tok(clean_text(target), add_special_tokens=False)["input_ids"]
        return torch.tensor([ids] * batch_size, device=self.device)  # (B, T)

    def decode(self, ids) -> list[str]:
        """One display string per id (" Paris", not "ĠParis")."""
        tok = self._tok()
        return [tok.decode([int(i)]) for i in ids]
