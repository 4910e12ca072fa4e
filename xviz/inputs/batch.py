"""What every text model's `prepare` returns: model inputs plus what a page needs to label them."""

from __future__ import annotations


class Batch(dict):
    """Model inputs (`model(**batch)`) plus what the UI needs: tokens per row, which of them are special or
    padding (from ids and the attention mask, never from token strings), and a truncation flag."""

    tokens: list[list[str]]
    special: list[list[bool]] = []
    truncated: bool = False
    texts: list = []
