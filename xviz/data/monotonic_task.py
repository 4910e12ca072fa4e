"""The monotonic task of `monotonic-plain` / `-guided` / `-location`: spell a number out, digit by digit.

    "305"  →  "three zero five"

Source tokens are digits, target tokens are characters: each digit expands into 3–5 letters plus a space, so the
correct alignment is a monotonic staircase of variable step width (like text → speech frames, where guided and
location-aware attention come from). Training numbers have 1–8 digits (MAX_TRAIN_DIGITS); an example whose source
hashes (crc32) to 0 mod 10 is held out, never trained; `long_set` holds numbers longer than any seen in training.
Deterministic: `random.Random(seed)` only.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from xviz.errors import InputError

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGITS = "0123456789"
SOURCE_VOCAB = SPECIALS + list(DIGITS)
OUTPUT_VOCAB = SPECIALS + sorted(set("".join(WORDS))) + [" "]  # the 15 letters of the words, the space
MAX_TRAIN_DIGITS = 8
MAX_DIGITS = 24  # longest source the models accept (3× the training length)
LONG_LENGTHS = (10, 12, 16)  # the length-generalisation test sets
PROBES = ("305", "4817", "90210", "31415926", "271828182845")  # attention maps saved during training (last: 12)


@dataclass(frozen=True)
class Example:
    source: str
    target: str

    def alignment(self) -> list[int]:
        """For each target character (and the final <eos>), the index of the digit it spells."""
        out: list[int] = []
        for i, d in enumerate(self.source):
            out += [i] * (len(WORDS[int(d)]) + (i + 1 < len(self.source)))  # the word, then its space
        return out + [len(self.source) - 1]


def spell(digits: str) -> str:
    return " ".join(WORDS[int(d)] for d in digits)


def held_out(source: str) -> bool:
    return zlib.crc32(source.encode()) % 10 == 0


def sample_number(rng: random.Random, n_digits: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n_digits))


def sample(rng: random.Random, split: str = "train", lo: int = 1, hi: int = MAX_TRAIN_DIGITS) -> Example:
    """One example with lo..hi digits; "train" never returns a held-out source, "held_out" only those."""
    while True:
        src = sample_number(rng, rng.randint(lo, hi))
        if split == "any" or held_out(src) == (split == "held_out"):
            return Example(src, spell(src))


def test_set(n: int, seed: int = 1234, lo: int = 1, hi: int = MAX_TRAIN_DIGITS) -> list[Example]:
    """Held-out numbers of lo..hi digits (never trained)."""
    rng = random.Random(f"held_out-{seed}-{lo}-{hi}")
    return [sample(rng, "held_out", lo, hi) for _ in range(n)]


def long_set(n_digits: int, n: int, seed: int = 1234) -> list[Example]:
    """Numbers of exactly n_digits (longer than any training number when n_digits > MAX_TRAIN_DIGITS)."""
    rng = random.Random(f"long-{seed}-{n_digits}")
    return [sample(rng, "any", n_digits, n_digits) for _ in range(n)]


EXAMPLES = ["305", "4817", "90210", "31415926", "7777777", "271828182845", "1234567890123456"]


# ---- tokens ----------------------------------------------------------------------------------------------------
def source_words(text: str) -> list[str]:
    """A typed number → its digits (spaces ignored), validated: digits only, not empty, at most MAX_DIGITS."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The source is empty: type a number such as 305.")
    digits = "".join(text.split())
    bad = sorted({c for c in digits if c not in DIGITS})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise InputError(f"This task spells out digits 0–9 only; remove {shown}.")
    if len(digits) > MAX_DIGITS:
        raise InputError(
            f"The number has {len(digits)} digits; these models read at most {MAX_DIGITS} "
            f"(they were trained on up to {MAX_TRAIN_DIGITS})."
        )
    return list(digits)


def target_words(text: str) -> list[str]:
    return list(text)


def join(chars: list[str]) -> str:
    return "".join(chars)
