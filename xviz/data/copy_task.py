"""The copy task of `copy-plain` / `copy-pointer`: short requests → word-level commands whose slots hold rare words.

    "please remind zubeko to buy milk on friday"  →  "todo fri zubeko buy milk"
    "send 4417 vapimo to rukasi"                  →  "order vapimo qty 4417 for rukasi"

The output vocabulary is small (command words, day abbreviations, a few common items and names); names, numbers, places
and most items are *rare words*: made-up words and numbers drawn from large pools that the output vocabulary never
holds. The encoder reads every rare word as `<unk>` (its position and context are all it knows of it), so a plain
decoder can only write `<unk>` for it, while a pointer can copy it from the source (See et al. 2017).

Splits: "train" and "held_out" draw rare words from the training pools (an example whose source hashes (crc32) to
0 mod 10 is held out, never trained); "never_seen" draws every slot from pools disjoint from the training pools
(crc32(word) % 4 == 0: never in any training example). Deterministic: `random.Random(seed)` only.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass

from xviz.errors import InputError

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ITEMS = ["milk", "bread", "eggs", "coffee", "tea", "rice", "apples", "soap"]  # common: in the output vocabulary
NAMES = ["anna", "tom", "maria", "ben"]  # common names: in the output vocabulary
# (source template, target template): {n} {m} names, {x} a number, {i} an item, {d} a day ({D}: its abbreviation),
# {p} a place. The targets' command words and day abbreviations never occur in a source: they must be generated.
TEMPLATES = [
    ("remind {n} to buy {i} on {d}", "todo {D} {n} buy {i}"),
    ("call {n} at {x}", "phone {n} {x}"),
    ("{n} owes {m} {x} dollars", "debt {n} {m} {x} usd"),
    ("meet {n} in {p} on {d}", "meeting {D} {p} with {n}"),
    ("send {x} {i} to {n}", "order {i} qty {x} for {n}"),
    ("where is {n}", "locate {n}"),
    ("book a table for {x} at {p} on {d}", "reservation {p} {D} guests {x}"),
    ("tell {n} that {m} called", "msg {n} caller {m}"),
]
POLITE = ["", "please ", "could you ", "can you "]
_WORD = re.compile(r"\{(\w)\}")
_TGT_WORDS = sorted({w for _, t in TEMPLATES for w in t.split() if not _WORD.fullmatch(w)})
OUTPUT_VOCAB = SPECIALS + _TGT_WORDS + [d[:3] for d in DAYS] + ITEMS + NAMES  # what the decoder can generate
_SRC_WORDS = sorted({w for s, _ in TEMPLATES for w in (s + " " + " ".join(POLITE)).split() if not _WORD.fullmatch(w)})
SOURCE_VOCAB = SPECIALS + sorted(set(_SRC_WORDS + DAYS + ITEMS + NAMES))  # what the encoder reads; rest → <unk>
MAX_WORDS = 16  # longest source accepted (the longest template with a polite prefix has 11)
MAX_WORD_CHARS = 24
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_CONS, _VOWELS = "bdfgklmnprstvz", "aeiou"


@dataclass(frozen=True)
class Example:
    source: str
    target: str


def is_rare(word: str) -> bool:
    """Not in the output vocabulary: the plain decoder can only write <unk> for it."""
    return word not in OUTPUT_VOCAB


def never_seen_pool(word: str) -> bool:
    """The rare words reserved for the never-seen split (no training example holds one)."""
    return zlib.crc32(word.encode()) % 4 == 0


def made_up_word(rng: random.Random, never_seen: bool) -> str:
    """2–3 consonant-vowel syllables (+ maybe a final consonant): 'zubeko', 'vapim'; drawn from its pool."""
    while True:
        n = rng.choice((2, 3))
        w = "".join(rng.choice(_CONS) + rng.choice(_VOWELS) for _ in range(n)) + rng.choice(["", "", "k", "n", "t"])
        if w not in SOURCE_VOCAB and w not in OUTPUT_VOCAB and never_seen_pool(w) == never_seen:
            return w


def rare_number(rng: random.Random, never_seen: bool) -> str:
    while True:
        w = str(rng.randrange(10, 1_000_000))
        if never_seen_pool(w) == never_seen:
            return w


def _slot(kind: str, rng: random.Random, never_seen: bool) -> str:
    if kind == "x":
        return rare_number(rng, never_seen)
    if kind == "d":
        return rng.choice(DAYS)
    common = {"n": NAMES, "m": NAMES, "i": ITEMS}.get(kind)
    if common is not None and not never_seen and rng.random() < 0.25:
        return rng.choice(common)
    return made_up_word(rng, never_seen)


def held_out(source: str) -> bool:
    return zlib.crc32(source.encode()) % 10 == 0


def sample(rng: random.Random, split: str = "train") -> Example:
    """One example of a split ("train", "held_out", "never_seen")."""
    while True:
        src_t, tgt_t = rng.choice(TEMPLATES)
        slots = {k: _slot(k, rng, split == "never_seen") for k in "nmxidp"}
        slots["D"] = slots["d"][:3]
        while slots["m"] == slots["n"]:
            slots["m"] = _slot("m", rng, split == "never_seen")
        polite = "" if src_t.startswith(("{", "where")) else rng.choice(POLITE)  # requests only
        source = polite + src_t.format(**slots)
        if split == "never_seen" or held_out(source) == (split == "held_out"):
            return Example(source, tgt_t.format(**slots))


def test_set(split: str, n: int, seed: int = 1234) -> list[Example]:
    rng = random.Random(f"{split}-{seed}")
    return [sample(rng, split) for _ in range(n)]


EXAMPLES = [
    "please remind zubeko to buy milk on friday",
    "send 4417 vapimo to rukasi",
    "zaponi owes tom 250 dollars",
    "could you book a table for 6 at kelumba on sunday",
    "tell anna that dorifet called",
    "meet tivaso in garunpe on monday",
]


# ---- what a typed request should give, and which of its words training could have seen ----------------------------
_MADE_UP = re.compile(f"([{_CONS}][{_VOWELS}]){{2,3}}[knt]?")


def reference(words: list[str]) -> str | None:
    """The correct target of a request that fits a template (slots: any word; {d} a day), else None."""
    text = " ".join(words)
    for src_t, tgt_t in TEMPLATES:
        pattern = re.escape(src_t).replace(r"\{d\}", "(?P<d>" + "|".join(DAYS) + ")")
        pattern = re.sub(r"\\\{(\w)\\\}", r"(?P<\1>\\S+)", pattern)
        m = re.fullmatch("(?:" + "|".join(re.escape(p) for p in POLITE if p) + ")?" + pattern, text)
        if m:
            slots = m.groupdict()
            return tgt_t.format(**slots, D=slots.get("d", "")[:3])
    return None


def never_in_training(word: str) -> bool:
    """True when no training example can hold this word: a rare word outside the training pools (the never-seen
    pool, or a shape the generators never make: 'xavier', '007')."""
    if not is_rare(word) or word in SOURCE_VOCAB:
        return False
    trainable = _MADE_UP.fullmatch(word) or (word.isdigit() and not word.startswith("0") and 10 <= int(word) < 10**6)
    return not trainable or never_seen_pool(word)


# ---- tokens ----------------------------------------------------------------------------------------------------
def source_words(text: str) -> list[str]:
    """A typed source → its words, validated: letters and digits only, not empty, not too long, and a request the
    task knows (at least one of its words)."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("The source is empty: type a request such as “call zubeko at 4417”.")
    words = text.strip().lower().split()
    bad = sorted({c for c in "".join(words) if c not in CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        raise InputError(f"The copy task's words are made of a–z and 0–9 only; remove {shown}.")
    if len(words) > MAX_WORDS:
        raise InputError(f"The source has {len(words)} words; these models read at most {MAX_WORDS}.")
    long = [w for w in words if len(w) > MAX_WORD_CHARS]
    if long:
        raise InputError(f"“{long[0][:30]}…” is longer than {MAX_WORD_CHARS} characters: not a word of this task.")
    if not any(w in SOURCE_VOCAB for w in words):
        raise InputError(
            "None of these words belongs to the task (requests such as “remind … to buy … on …”, “call … at …”, "
            "“send … to …”): the models only know those."
        )
    return words


def target_words(text: str) -> list[str]:
    return text.split()


def join(words: list[str]) -> str:
    return " ".join(words)
