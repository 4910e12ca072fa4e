"""Encoder–decoder page, guided and location-aware attention: three models that spell numbers out ("305" → "three
zero five"), trained with the same budget — plain content-based attention, + the guided-attention loss (Tachibana
et al. 2017), location-aware attention (Chorowski et al. 2015). Their final numbers, diagonality over training,
the cross-attention maps saved at checkpoints, and what they do on a number of your own, longer than any trained.
The section loads its own three models by name."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from xviz.analysis import copy_guided
from xviz.app import state
from xviz.app.widgets import Q, figure, literal
from xviz.data import monotonic_task
from xviz.models.attn_rnn import shipped_metrics
from xviz.models.attn_rnn_decode import Generation
from xviz.plots import copy_guided as copy_plots

MODELS = {"plain": "monotonic-plain", "guided": "monotonic-guided", "location": "monotonic-location"}
INTRO = (
    "Spelling a number out is **monotonic**: each digit becomes 3–5 letters and a space, left to right, so the right "
    "cross-attention is a staircase close to the diagonal (as text → speech frames). Three models with the same "
    "architecture, budget and seed: **plain** content-based attention; **guided**: + the loss `mean(A ⊙ W)` with "
    "`W_nt = 1 − exp(−(n/N − t/T)² / 2g²)`, which penalises attention far from the diagonal; **location**: the score "
    "also reads the previous step's attention, convolved over source positions. Trained on 1–8 digits."
)
CUSTOM = "(type your own)"


@st.cache_resource(max_entries=64, show_spinner="Decoding…")
def cached_generation(name: str, device: str, source: str) -> Generation:
    return state.load_model_cached(name, device).generate_text(source)


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_shipped(name: str) -> tuple[dict, copy_guided.CheckpointMaps]:
    """The training curve (CSV) and the checkpoint attention maps shipped beside the weights."""
    return copy_guided.shipped_curve(name), copy_guided.shipped_maps(name)


def _final_numbers(models: dict) -> None:
    rows = []
    for variant, model in models.items():
        m, curve = shipped_metrics(model), cached_shipped(MODELS[variant])[0]
        rows.append(
            {
                "model": MODELS[variant],
                "exact, held-out 1–8 digits": f"{m['exact_held_out']:.1%}",
                **{f"exact, {k} digits": f"{v:.1%}" for k, v in m["exact_long"].items()},
                "diagonality": round(m["held_out"]["diagonality"], 3),
                "diagonality, 12 digits": round(m["long_12"]["diagonality"], 3),
                "alignment accuracy": f"{m['held_out']['align_acc']:.1%}",
                "first step with diagonality ≥ 0.9": copy_guided.first_step_at(curve, "diagonality", 0.9) or "never",
                "training seconds": m["train_seconds"],
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        "Written by the training scripts into the weight files: greedy exact match on held-out numbers and on "
        "numbers longer than any trained; diagonality = attention mass within one digit of the diagonal "
        "(teacher-forced, 1 for an identity alignment); alignment accuracy = steps whose most-attended digit is "
        "the one they spell."
    )


def _curves() -> None:
    curves = {name: cached_shipped(name)[0] for name in MODELS.values()}
    left, right = st.columns(2)
    with left:
        figure(copy_plots.curves_figure(curves, "diagonality", "Diagonality during training", "diagonality"), "gd_diag")
    with right:
        figure(
            copy_plots.curves_figure(curves, "align_acc", "Alignment accuracy during training", "accuracy"),
            "gd_align",
            caption="100 held-out numbers, teacher-forced. Exact-match curves: the CSV files beside the weights.",
        )
    st.caption(
        "What to look for: the guided loss pulls attention onto the straight line n/N = t/T sooner than the plain "
        "model finds it, but that line is not the staircase of 3–5-letter words, so its attention sits partly "
        "between digits (lower alignment accuracy). Location-aware attention moves from where it was, one step at "
        "a time: that is what carries over to numbers longer than any trained (the 12- and 16-digit columns)."
    )


def _checkpoint_maps() -> None:
    maps = {v: cached_shipped(n)[1] for v, n in MODELS.items()}
    steps = maps["plain"].steps
    a, b = st.columns([1, 3])
    probe = a.selectbox("Probe number", maps["plain"].probes, index=3, key="gd_probe", bind=Q)
    step = b.select_slider("Checkpoint (training step)", steps, value=steps[-1], key="gd_ckpt", bind=Q)
    target = monotonic_task.spell(probe)
    shown = {
        f"{MODELS[v]} · {copy_guided.diagonality(m.get(step, probe, len(target))):.2f}": v for v, m in maps.items()
    }
    figure(
        copy_plots.attention_maps_figure(
            {label: maps[v].get(step, probe, len(target)) for label, v in shown.items()},
            list(probe),
            {label: list(target) + ["<eos>"] for label in shown},
            f"Cross-attention on {probe} at step {step} (teacher-forced; number: its diagonality)",
        ),
        "gd_ckpt_maps",
        caption=f"{len(probe)} digits"
        + (" — longer than any training number." if len(probe) > monotonic_task.MAX_TRAIN_DIGITS else ".")
        + " Rows: the character being written; columns: the digits.",
    )


def _your_number(models: dict) -> None:
    a, b = st.columns([2, 3])
    a.selectbox("Example", [CUSTOM] + monotonic_task.EXAMPLES, key="gd_example", on_change=_example_changed)
    st.session_state.setdefault("gd_src", "271828182845")
    raw = b.text_input("Number", key="gd_src", bind=Q, max_chars=100)
    digits = models["plain"].source_tokens(raw)  # InputError: empty, too long, not digits
    n = len(digits)
    if n > monotonic_task.MAX_TRAIN_DIGITS:
        st.info(f"{n} digits: longer than any number seen in training (1–{monotonic_task.MAX_TRAIN_DIGITS}).")
    expected, device = monotonic_task.spell("".join(digits)), str(state.device())
    gens = {v: cached_generation(MODELS[v], device, raw) for v in models}
    rows = [
        {"model": MODELS[v], "output": g.text, "correct": "✓" if g.text == expected else "✗"} for v, g in gens.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"Expected: {literal(expected)}")
    labels = {f"{MODELS[v]} · {copy_guided.diagonality(g.attention):.2f}": g for v, g in gens.items()}
    figure(
        copy_plots.attention_maps_figure(
            {k: g.attention for k, g in labels.items()},
            digits,
            {k: g.tokens + (["<eos>"] if g.finished else []) for k, g in labels.items()},
            "Cross-attention while decoding your number (free running; number: its diagonality)",
        ),
        "gd_maps",
    )


def _example_changed() -> None:
    ex = st.session_state.get("gd_example")
    if ex and ex != CUSTOM:
        st.session_state["gd_src"] = ex


def guided_section(_ctx=None) -> None:
    """The section (needs no page context: it loads the three monotonic models itself)."""
    st.markdown(INTRO)
    models = {v: state.get_model_named(n) for v, n in MODELS.items()}
    _final_numbers(models)
    _curves()
    _checkpoint_maps()
    st.subheader("Your number")
    _your_number(models)
