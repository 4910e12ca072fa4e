"""Text input validation. Text is kept literally (emoji, CJK, RTL, markup); the UI never renders it as HTML."""

from __future__ import annotations

import unicodedata

from xviz.errors import InputError

MAX_CHARS = 100_000  # far beyond 512 tokens; protects the tokenizer from megabyte pastes
MAX_UPLOAD_BYTES = 1_000_000


def clean_text(text) -> str:
    """Reject empty / whitespace-only / non-string input; replace control characters (except tab/newline) by
    spaces so they cannot corrupt token displays. Everything else stays as typed."""
    if not isinstance(text, str):
        raise InputError(f"Expected text, got {type(text).__name__}.")
    if len(text) > MAX_CHARS:
        raise InputError(f"The text has {len(text):,} characters; the limit is {MAX_CHARS:,}.")
    text = "".join(" " if unicodedata.category(c) == "Cc" and c not in "\t\n" else c for c in text)
    if not text.strip():
        raise InputError("The text is empty: type or upload at least one word.")
    return text


def decode_text_upload(data: bytes, filename: str = "upload") -> str:
    """Bytes of an uploaded .txt → text, with a clear message for binary or oversized files."""
    if len(data) == 0:
        raise InputError(f"{filename} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(
            f"{filename} is {len(data) / 1e6:.1f} MB; text uploads are limited to {MAX_UPLOAD_BYTES / 1e6:.0f} MB."
        )
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")  # a BOM: NUL bytes are expected
    if not utf16 and b"\x00" in data[:4096]:
        raise InputError(f"{filename} looks like a binary file, not text.")
    for enc in ("utf-8-sig", "utf-16") if utf16 else ("utf-8-sig",):
        try:
            return clean_text(data.decode(enc))
        except UnicodeDecodeError:
            continue
    try:
        return clean_text(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{filename} is not UTF-8 text.") from None
