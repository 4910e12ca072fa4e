"""Character vocabulary and the synthetic tasks of `seq2seq-tiny`, each with its known alignment.

Tasks (source → target):
  reverse  "abc"                      → "cba"          anti-diagonal alignment
  date     "3rd of March 2021" or "March 3, 2021" → "2021-03-03"   crossing alignment (year first)
  copy     "Please greet Anna Berg warmly." → "Anna Berg"         a shifted diagonal (copy through a template)
The source fed to the encoder is [task token] + characters; the decoder reads [bos] + target and predicts
target + [eos]. Held-out split: an example whose key hashes (crc32) to 0 mod 10 is never used in training.
Pure python + torch; no streamlit.
"""

from __future__ import annotations

import calendar
import re
import zlib
from dataclasses import dataclass

import torch

from xviz.errors import InputError

SPECIALS = ["<pad>", "<bos>", "<eos>"]
TASKS = ("reverse", "date", "copy")
CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.-'"
VOCAB = SPECIALS + [f"<{t}>" for t in TASKS] + list(CHARS)
STOI = {s: i for i, s in enumerate(VOCAB)}
PAD, BOS, EOS = 0, 1, 2
MAX_CHARS = {"reverse": 24, "date": 30, "copy": 46}  # longest source (characters) trained per task
MAX_TARGET = 24  # longest target (characters)
MONTHS = list(calendar.month_name)[1:]
TEMPLATES = [
    "Please greet {name} warmly.",
    "My name is {name}.",
    "{name} is here.",
    "Say hello to {name}, please.",
    "Ask {name} to call back.",
]
_SYL = [
    "an",
    "na",
    "ma",
    "ri",
    "lo",
    "ke",
    "to",
    "sa",
    "mi",
    "el",
    "ja",
    "ro",
    "be",
    "da",
    "ni",
    "vi",
    "ka",
    "le",
    "zo",
    "fu",
    "qi",
    "wen",
    "ber",
    "gard",
    "son",
    "sky",
    "ova",
    "ez",
    "ul",
    "hi",
]


@dataclass(frozen=True)
class Example:
    task: str
    source: str
    target: str
    align: tuple[tuple[int, ...], ...]  # for each target char: the source *character* indices it copies / reads


def task_token(task: str) -> int:
    if task not in TASKS:
        raise InputError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
    return STOI[f"<{task}>"]


def outside_vocab(text: str) -> list[str]:
    return sorted({c for c in text if c not in STOI or len(c) != 1})


def encode_chars(text: str) -> list[int]:
    bad = outside_vocab(text)
    if bad:
        shown = " ".join(repr(c) for c in bad[:8])
        raise InputError(
            f"Characters outside the model's vocabulary: {shown}. It knows only a–z, A–Z, 0–9, "
            "space and , . - ' (a character-level model trained on synthetic tasks)."
        )
    return [STOI[c] for c in text]


def decode_ids(ids) -> str:
    """Token ids → text; stops at <eos>, drops <bos>/<pad>."""
    out = []
    for i in ids:
        i = int(i)
        if i == EOS:
            break
        if i >= len(SPECIALS) + len(TASKS):
            out.append(VOCAB[i])
    return "".join(out)


def held_out(key: str) -> bool:
    return zlib.crc32(key.encode()) % 10 == 0


# ---- generators (a torch.Generator, never the global RNG) -----------------------------------------------
def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] inclusive."""
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def reverse_example(word: str) -> Example:
    n = len(word)
    return Example("reverse", word, word[::-1], tuple((n - 1 - j,) for j in range(n)))


def date_example(year: int, month: int, day: int, form: int) -> Example:
    """form 0: "3rd of March 2021"; form 1: "March 3, 2021". Target "2021-03-03"."""
    name = MONTHS[month - 1]
    if form == 0:
        d0, src = 0, f"{ordinal(day)} of {name} {year}"
        m0 = len(ordinal(day)) + 4
    else:
        m0, src = 0, f"{name} {day}, {year}"
        d0 = len(name) + 1
    y0 = len(src) - 4
    d_span = tuple(range(d0, d0 + len(str(day))))
    m_span = tuple(range(m0, m0 + len(name)))
    align = [(y0 + i,) for i in range(4)] + [()] + [m_span, m_span] + [()]
    align += [d_span, d_span] if day < 10 else [(d0,), (d0 + 1,)]
    return Example("date", src, f"{year:04d}-{month:02d}-{day:02d}", tuple(align))


def copy_example(name: str, template: str) -> Example:
    start = template.index("{name}")
    return Example("copy", template.format(name=name), name, tuple((start + j,) for j in range(len(name))))


def random_name(g: torch.Generator) -> str:
    """One or two capitalised words, each either 1–3 syllables ("Riwen") or 2–8 random letters ("Qzpt"), so
    copying cannot lean on a small set of memorised names."""

    def word() -> str:
        if _randint(g, 0, 1):
            w = "".join(_SYL[_randint(g, 0, len(_SYL) - 1)] for _ in range(_randint(g, 1, 3)))
        else:
            w = "".join(CHARS[_randint(g, 0, 25)] for _ in range(_randint(g, 2, 8)))
        return w.capitalize()

    name = word() if _randint(g, 0, 2) else f"{word()} {word()}"
    return name[:MAX_TARGET].rstrip()


def random_example(task: str, g: torch.Generator) -> Example:
    if task == "reverse":
        n = _randint(g, 1, MAX_CHARS["reverse"])
        return reverse_example("".join(CHARS[_randint(g, 0, 25)] for _ in range(n)))
    if task == "date":
        year, month = _randint(g, 1900, 2099), _randint(g, 1, 12)
        day = _randint(g, 1, calendar.monthrange(year, month)[1])
        return date_example(year, month, day, _randint(g, 0, 1))
    if task == "copy":
        return copy_example(random_name(g), TEMPLATES[_randint(g, 0, len(TEMPLATES) - 1)])
    raise InputError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")


def split_key(ex: Example) -> str:
    """What the held-out split hashes: the target for dates and names (so a held-out date/name is never seen in
    any form or template), the source for reversal."""
    return f"{ex.task}:{ex.source if ex.task == 'reverse' else ex.target}"


def sample(task: str, g: torch.Generator, split: str = "train") -> Example:
    """A random example of the given split ("train" or "test")."""
    while True:
        ex = random_example(task, g)
        if held_out(split_key(ex)) == (split == "test"):
            return ex


def test_set(task: str, n: int, seed: int = 1234) -> list[Example]:
    """n distinct held-out examples of a task (fixed by the seed)."""
    g = torch.Generator().manual_seed(seed + TASKS.index(task))
    out: dict[str, Example] = {}
    while len(out) < n:
        ex = sample(task, g, "test")
        out.setdefault(ex.source, ex)
    return list(out.values())


# ---- references for free text (the page) -------------------------------------------------------------
_DATE_A = re.compile(r"^(\d{1,2})(st|nd|rd|th) of ([A-Z][a-z]+) (\d{4})$")
_DATE_B = re.compile(r"^([A-Z][a-z]+) (\d{1,2}), (\d{4})$")


def parse_date(source: str) -> tuple[int, int, int, int] | None:
    """(year, month, day, form) of a source in one of the two trained forms, else None."""
    m, form = _DATE_A.match(source), 0
    if m:
        day, month, year = int(m[1]), m[3], int(m[4])
        if m[2] != ordinal(day)[-2:]:
            return None
    else:
        m, form = _DATE_B.match(source), 1
        if not m:
            return None
        month, day, year = m[1], int(m[2]), int(m[3])
    if month not in MONTHS:
        return None
    return year, MONTHS.index(month) + 1, day, form


def reference(task: str, source: str) -> tuple[Example | None, str]:
    """The known answer and alignment of a free-text source, or (None, why not)."""
    if task == "reverse":
        if not re.fullmatch(r"[a-z]+", source):
            return None, "reversal was trained on lowercase letters a–z only; the model's answer is a guess"
        return reverse_example(source), ""
    if task == "date":
        p = parse_date(source)
        if p is None:
            return None, "not in a trained form ('3rd of March 2021' or 'March 3, 2021'): no reference"
        year, month, day, form = p
        if not 1900 <= year <= 2099:
            return None, f"year {year} is outside the trained 1900–2099"
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            return None, f"{MONTHS[month - 1]} {year} has no day {day}: a nonsense date, the model answers anyway"
        return date_example(year, month, day, form), ""
    for t in TEMPLATES:
        pre, post = t.split("{name}")
        if source.startswith(pre) and source.endswith(post) and len(source) > len(pre) + len(post):
            return copy_example(source[len(pre) : len(source) - len(post)], t), ""
    return None, "not one of the trained templates: no reference"
