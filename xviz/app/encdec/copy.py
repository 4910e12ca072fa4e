"""Encoder–decoder page, the copy mechanism: `copy-plain` and `copy-pointer` on a request holding rare words — the
plain model's <unk> next to the pointer's copies, and per output step p_gen, the copy distribution over the source,
P_vocab's top-k and the mixed result (See et al. 2017). The section loads its own two models by name."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from xviz.analysis import copy_guided
from xviz.app import state
from xviz.app.widgets import Q, figure, literal
from xviz.data import copy_task
from xviz.models.attn_rnn import shipped_metrics
from xviz.models.attn_rnn_decode import Generation
from xviz.plots import copy_guided as copy_plots

PLAIN, POINTER = "copy-plain", "copy-pointer"
CUSTOM = "(type your own)"
INTRO = (
    "Both models read requests whose names, numbers and places are **rare words**: made-up words drawn from large "
    "pools, never in the 38-word output vocabulary (the encoder reads each as `<unk>`). The plain model can only "
    "write `<unk>` for them; the **pointer-generator** mixes its vocabulary distribution with a copy distribution "
    "over the source (its cross-attention): `P(w) = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: w_i = w} a_i`."
)


@st.cache_resource(max_entries=64, show_spinner="Decoding…")
def cached_generation(name: str, device: str, source: str) -> Generation:
    """Greedy output with its per-step trace; keyed on plain values, the shared model is only read."""
    return state.load_model_cached(name, device).generate_text(source)


def _example_changed() -> None:
    ex = st.session_state.get("cp_example")
    if ex and ex != CUSTOM:
        st.session_state["cp_src"] = ex


def _source(examples: list[str]) -> str:
    a, b = st.columns([2, 3])
    a.selectbox("Example", [CUSTOM] + examples, key="cp_example", on_change=_example_changed)
    st.session_state.setdefault("cp_src", examples[0])
    return b.text_input("Request", key="cp_src", bind=Q, max_chars=300)


def _verdict(text: str, expected: str | None) -> str:
    if expected is None:
        return ""
    return "✓ correct" if text == expected else "✗ wrong"


def _comparison(words: list[str], plain: Generation, pointer: Generation) -> None:
    expected = copy_task.reference(words)
    rows = [
        {"": "source", "words": " ".join(words), "verdict": ""},
        {"": "what the encoder reads", "words": " ".join(pointer.encoder_tokens), "verdict": ""},
        {"": PLAIN, "words": plain.text, "verdict": _verdict(plain.text, expected)},
        {"": POINTER, "words": pointer.text, "verdict": _verdict(pointer.text, expected)},
    ]
    if expected is not None:
        rows.append({"": "expected", "words": expected, "verdict": ""})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    unseen = [w for w in dict.fromkeys(words) if copy_task.never_in_training(w)]
    rare = [w for w in dict.fromkeys(words) if copy_task.is_rare(w) and w not in copy_task.SOURCE_VOCAB]
    st.caption(
        f"Rare words here: {literal(', '.join(rare)) or 'none'} · never in any training example: "
        f"{literal(', '.join(unseen)) or 'none'} · `<unk>` written by the plain model: "
        f"{copy_guided.unk_count(plain.text)}"
        + ("" if expected is not None else " · no known answer: the request fits none of the task's templates")
    )


def _shipped_numbers(plain, pointer) -> None:
    mp, mq = shipped_metrics(plain), shipped_metrics(pointer)
    cols = st.columns(4)
    for col, (label, m, key) in zip(
        cols,
        [
            (f"{PLAIN}, held-out", mp, "exact_held_out"),
            (f"{POINTER}, held-out", mq, "exact_held_out"),
            (f"{PLAIN}, never-seen words", mp, "exact_never_seen"),
            (f"{POINTER}, never-seen words", mq, "exact_never_seen"),
        ],
    ):
        col.metric(label, f"{100 * m.get(key, 0):.1f}%")
    st.caption(
        f"Exact match on {mp.get('n', 0)} held-out requests and {mp.get('n', 0)} whose rare words were all drawn "
        f"from a pool no training example used (written by the training scripts into the weight files). With "
        f"`<unk>` accepted for every rare word, {PLAIN} scores {100 * mp.get('unk_held_out', 0):.1f}% / "
        f"{100 * mp.get('unk_never_seen', 0):.1f}%: it learned the task, it just cannot write the words."
    )


def _clamp(key: str, hi: int) -> None:
    if st.session_state.get(key, 1) > hi:
        st.session_state[key] = hi


def _steps(plain: Generation, pointer: Generation) -> None:
    steps = copy_guided.pointer_steps(pointer)
    _clamp("cp_step", len(steps))
    t = st.slider("Output step", 1, len(steps), 1, key="cp_step", bind=Q) if len(steps) > 1 else 1
    s = steps[t - 1]
    title = (
        f"Step {t}: {POINTER} writes “{s.token}” — p_gen = {s.p_gen:.2f}, "
        f"{s.from_copy:.0%} of its probability from copying"
    )
    figure(
        copy_plots.pointer_step_figure(s, pointer.source_tokens, title),
        "cp_stepfig",
        caption="p_gen: the probability of generating from the vocabulary (green) vs copying (orange). The copy "
        "distribution is the cross-attention over the source tokens; the final distribution adds (1 − p_gen)·aᵢ "
        "to the word at each source position (a rare word gets an id of its own for this source).",
    )
    rows = [
        {
            "step": x.step,
            POINTER: x.token,
            "p_gen": round(x.p_gen, 3),
            "most attended": f"{_argmax(x.copy)}:{pointer.source_tokens[_argmax(x.copy)]}",
            "from copying": f"{x.from_copy:.0%}",
            PLAIN: (plain.tokens + ["<eos>"])[x.step - 1] if x.step <= len(plain.tokens) + 1 else "",
        }
        for x in steps
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    figure(
        copy_plots.copy_map_figure(
            pointer.attention, pointer.source_tokens, [x.token for x in steps], pointer.p_gen, f"{POINTER}: copy map"
        ),
        "cp_map",
        caption="Rows: output steps; columns: source tokens. Right: p_gen per step — near 0 where a rare word is "
        "copied, near 1 where a command word or day abbreviation (never in the source) is generated.",
    )


def _argmax(xs: list[float]) -> int:
    return max(range(len(xs)), key=xs.__getitem__)


def copy_section(_ctx=None) -> None:
    """The section (needs no page context: it loads copy-plain and copy-pointer itself)."""
    st.markdown(INTRO)
    plain, pointer = state.get_model_named(PLAIN), state.get_model_named(POINTER)
    raw = _source(pointer.examples)
    words = pointer.source_tokens(raw)  # InputError: empty, too long, characters or words outside the task
    device = str(state.device())
    gp, gq = cached_generation(PLAIN, device, raw), cached_generation(POINTER, device, raw)
    _comparison(words, gp, gq)
    _shipped_numbers(plain, pointer)
    _steps(gp, gq)
