"""Render helpers of the "Self-attention, step by step" page: inputs, the cached run, the stepper, why √d."""

from __future__ import annotations

import streamlit as st

from xviz.analysis.sqrt_d import dot_variance, real_head_stats, softmax_saturation
from xviz.analysis.stepwise import StepRun, run_steps
from xviz.analysis.stepwise_lm import run_lm_steps
from xviz.app import state, widgets
from xviz.app.widgets import Q
from xviz.plots import stepwise as stepwise_plots

EXAMPLES = [
    "The cat sat on the mat because it was tired.",
    "The bank raised interest rates, so we sat by the river bank.",
    "Attention is all you need.",
]


KINDS = {"Encoder (BERT: MiniLM)": "text", "Decoder (Llama: SmolLM2)": "lm"}


@st.cache_resource(max_entries=16, show_spinner="Running the model and recomputing every step…")
def cached_steps(model_name: str, device: str, kind: str, item, layer: int, head: int, pad: int) -> StepRun:
    """Keyed on plain values; the shared model is only read (record() is context-scoped)."""
    model = state.load_model_cached(model_name, device)
    return run_lm_steps(model, item, layer, head) if kind == "lm" else run_steps(model, item, layer, head, pad)


def kind_choice() -> str:
    label = st.radio(
        "Model",
        list(KINDS),
        key="sw_kind",
        horizontal=True,
        bind=Q,
        help="The text model and the language model chosen in the sidebar.",
    )
    return KINDS[label]


def inputs(model, kind: str = "text") -> tuple[object, int, int, int]:
    """Sentence (or example / pair), layer, head, padding → (item, layer, head, pad)."""
    c1, c2 = st.columns([3, 2])
    with c1:
        ex = st.selectbox("Example", ["(type your own)"] + EXAMPLES, key="sw_example")
        if ex != "(type your own)" and st.session_state.get("sw_example_seen") != ex:
            st.session_state["sw_example_seen"] = ex
            st.session_state["sw_text"] = ex
        st.session_state.setdefault("sw_text", EXAMPLES[0])
        text = st.text_area("Sentence", key="sw_text", height=68, bind=Q)
        seg = (
            st.text_input("Second segment (optional: segment embeddings become 1)", "", key="sw_seg", bind=Q)
            if kind == "text"
            else ""
        )
    n_layers, n_heads = model.num_layers, model.num_heads
    _keep_valid("sw_layer", range(n_layers))  # switching models: a layer / head the other model lacks
    _keep_valid("sw_head", range(n_heads))
    with c2:
        a, b, c = st.columns(3)
        layer = a.selectbox("Layer", range(n_layers), key="sw_layer", bind=Q)
        head = b.selectbox("Head", range(n_heads), key="sw_head", bind=Q)
        pad = (
            int(
                c.number_input(
                    "[PAD] tokens",
                    0,
                    8,
                    0,
                    key="sw_pad",
                    bind=Q,
                    help="Appended with attention mask 0, so the mask step has work to do.",
                )
            )
            if kind == "text"
            else 0
        )
    item = (text, seg) if seg.strip() else text
    return item, int(layer), int(head), pad


def _keep_valid(key: str, options) -> None:
    """A value the current options lack (after switching models) is dropped: the widget starts at its default."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def summary(run: StepRun) -> None:
    checked = [s for s in run.steps if s.hook]
    worst = max(s.diff for s in checked)
    ok = worst < 1e-4
    (st.success if ok else st.error)(
        f"{len(checked)} of {len(run.steps)} steps are compared with the tensors the model's hook points recorded "
        f"in the same forward pass: largest difference {worst:.1e} "
        f"({'exactly equal' if worst == 0 else 'float32 rounding' if ok else 'MISMATCH'}). The others ("
        + ", ".join(s.key for s in run.steps if not s.hook)
        + ") have no hook of their own and feed checked ones."
    )
    if run.truncated:
        st.warning(
            f"The text was longer than this page shows for this model ({len(run.tokens)} tokens, a memory "
            "estimate of its N × N steps): it was truncated."
        )


def head_b_choice(model, kind: str, head: int) -> int | None:
    """An optional second head of the same layer, shown beside the first at every step (None: off)."""
    n_heads = model.num_heads
    _keep_valid("sw_head_b", range(n_heads))
    c1, c2, _ = st.columns([2, 1, 3])
    if not c1.toggle("Compare with a second head", key="sw_cmp", bind=Q):
        return None
    return int(c2.selectbox("Head B", range(n_heads), index=(head + 1) % n_heads, key="sw_head_b", bind=Q))


def stepper(run: StepRun, run_b: StepRun | None = None) -> None:
    keys = [s.key for s in run.steps]
    _keep_valid("sw_step", keys)  # the encoder and the decoder have different steps
    b1, b2, _ = st.columns([1, 1, 6])  # filled after the slider, which knows the step (from the URL, too)
    key = st.select_slider(
        "Step",
        keys,
        key="sw_step",
        bind=Q,  # plain keys: they are what the URL shows
        help="tok → … → out: the operations of the block in order (Previous / Next move one).",
    )
    i = keys.index(key)
    b1.button("◀ Previous", key="sw_prev", disabled=i == 0, on_click=_go, args=(keys, i - 1))
    b2.button("Next ▶", key="sw_next", disabled=i == len(keys) - 1, on_click=_go, args=(keys, i + 1))
    if run_b is None:
        show_step(run, keys.index(key))
        return
    cols = st.columns(2)
    for col, r, tag in ((cols[0], run, "_a"), (cols[1], run_b, "_b")):
        with col:
            show_step(r, keys.index(key), tag)


def _go(keys: list[str], i: int) -> None:
    st.session_state["sw_step"] = keys[i]


def show_step(run: StepRun, i: int, tag: str = "") -> None:
    s = run.steps[i]
    D, h = run.head_dim, run.head
    st.subheader(f"Step {i + 1} of {len(run.steps)} · {s.title}" + (f" (head {h})" if tag else ""))
    st.markdown(f"**Equation:** `{s.equation}`  \n**Shape:** `{s.shape}`")
    if s.hook:
        st.caption(f"Equals the recorded hook `{s.hook}` (max |difference| {s.diff:.1e}).")
    g = h // run.group  # the K/V head this query head reads
    head_cols = (
        (h * D, (h + 1) * D) if s.key in ("q", "concat") else ((g * D, (g + 1) * D) if s.key in ("k", "v") else None)
    )
    widgets.figure(
        stepwise_plots.step_figure(s, col_range=head_cols),
        f"sw_fig_{s.key}{tag}",
        caption=(s.note + " " if s.note else "")
        + "Hover a cell for its value"
        + (" and the values that produced it." if s.extra else ".")
        + (f" The outlined columns are head {h}'s slice." if head_cols else ""),
    )
    if s.weight is not None:
        with st.expander(f"The weight matrix {s.weight_name} ({s.weight.shape[0]} × {s.weight.shape[1]})"):
            widgets.figure(
                stepwise_plots.weight_figure(s.weight, s.weight_name, head_cols),
                f"sw_w_{s.key}{tag}",
                caption="The model's own parameters (nn.Linear.weight transposed: x·W).",
            )


def sqrt_d_section(run: StepRun) -> None:
    rec = run.recording
    L, h = run.layer, run.head
    q, k = rec[f"blocks.{L}.attn.hook_q"][0, h], rec[f"blocks.{L}.attn.hook_k"][0, h // run.group]  # (N, D)
    key_ok = rec[f"blocks.{L}.attn.hook_probs"][0, h, -1] > 0  # (N,) keys the last query may see (not padding)
    r = real_head_stats(q, k, key_ok)
    st.markdown(f"**On this head's real q, k** (layer {L}, head {h}, D = {r.d}, all pairs of real tokens):")
    c = st.columns(4)
    c[0].metric("Var(q·k) measured", f"{r.var_qk:.3g}")
    c[1].metric(
        "D·Var(q)·Var(k)",
        f"{r.var_pred:.3g}",
        help="What independence would predict; real q and k are correlated and not zero-mean, so the two differ.",
    )
    c[2].metric("row entropy, ÷√D (the model)", f"{r.scaled[0]:.2f} nats", help=f"log N = {r.uniform_entropy:.2f}")
    c[3].metric(
        "row entropy, without ÷√D",
        f"{r.unscaled[0]:.2f} nats",
        f"{r.unscaled[0] - r.scaled[0]:+.2f}",
        delta_color="off",
    )
    st.caption(
        f"Largest weight per row: {r.scaled[1]:.2f} with ÷√D, {r.unscaled[1]:.2f} without. Softmax Jacobian "
        f"norm (how much gradient passes): {r.scaled[2]:.3f} with, {r.unscaled[2]:.3f} without."
    )
    st.markdown("**On random q, k with unit-variance components:**")
    widgets.figure(
        stepwise_plots.dot_variance_figure(dot_variance()),
        "sw_var",
        caption="q·k is a sum of d independent products of variance 1: its variance is d (dots on the "
        "line). After ÷√d it is 1 for every d. 4000 samples per d, seed 0.",
    )
    widgets.figure(
        stepwise_plots.saturation_figure(softmax_saturation()),
        "sw_sat",
        caption="Without the scaling, larger d means larger scores, a softmax close to one-hot (entropy "
        "→ 0, max weight → 1) and a Jacobian diag(p) − p·pᵀ → 0: almost no gradient reaches "
        "q and k (saturation). With ÷√d all three stay flat.",
    )
