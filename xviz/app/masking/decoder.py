"""Masking page, causal decoder: the mask the decoder applies itself (causal ∧ real key) on a batch padded on the
left and on the right, the attention it gives, and the check that the real tokens' outputs do not depend on the
padding side when positions are counted over real tokens. Numbers from xviz.analysis.masking_decoder."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
import torch

from xviz.analysis import masking_decoder
from xviz.app import run_cache, state, widgets
from xviz.app.widgets import figure
from xviz.plots import masks as mask_plots


def cached_sides(model_name: str, device: str, sentences: tuple) -> masking_decoder.PaddingSides:
    """Keyed on plain values, in the process-wide byte-bounded cache; the shared model is only read."""

    def compute() -> masking_decoder.PaddingSides:
        return masking_decoder.compare_sides(state.load_model_cached(model_name, device), list(sentences))

    with st.spinner("Running the decoder on the batch padded left and right…"):
        return run_cache.get_or_compute(("masking_sides", model_name, device, sentences), compute)


def _probs_shown(run: masking_decoder.SideRun, layer: int, b: int, head: int) -> torch.Tensor:
    """(N, N) probabilities with the rows of pad queries blank: fully masked, their softmax means nothing."""
    p = run.probs[layer, b, head].clone()
    p[~run.attention_mask[b].bool()] = float("nan")
    return p


def _pad_labels(run: masking_decoder.SideRun) -> list[list[str]]:
    """Token labels with the padding shown as [pad] (a decoder often pads with its end-of-text token)."""
    am = run.attention_mask.tolist()
    return [[t if m else "[pad]" for t, m in zip(row, mrow)] for row, mrow in zip(run.tokens, am)]


def _pad_token(run: masking_decoder.SideRun) -> str:
    return next(
        (t for row, mrow in zip(run.tokens, run.attention_mask.tolist()) for t, m in zip(row, mrow) if not m), ""
    )


def _batches(res: masking_decoder.PaddingSides) -> None:
    st.markdown(
        "The decoder receives the same sentences padded on either side, with their `attention_mask` "
        "(B × N; 1 = real token) and `position_ids` counted over real tokens:"
    )
    pad = _pad_token(res.left)
    for col, run in zip(st.columns(2), (res.left, res.right)):
        with col:
            figure(
                mask_plots.batch_figure(_pad_labels(run), run.attention_mask, f"padded on the {run.side}"),
                f"mk_dec_batch_{run.side}",
                caption=f"{run.side.capitalize()} padding: [pad] (the id of "
                f"{widgets.literal(pad)} here) fills the {'start' if run.side == 'left' else 'end'} of the "
                "shorter sentences (light = 0); the mask, not the token, keeps it out.",
            )


def _checks(res: masking_decoder.PaddingSides) -> None:
    c = st.columns(4)
    c[0].metric("largest probability on a masked entry", f"{max(res.left.max_masked, res.right.max_masked):.3g}")
    c[1].metric("max |row sum − 1| (real queries)", f"{max(res.left.max_row_error, res.right.max_row_error):.1e}")
    c[2].metric(
        "max |Δ logits| left vs right",
        f"{res.max_logit_diff:.3g}",
        help="Over every real token of every sentence, with position_ids counted over real tokens.",
    )
    c[3].metric(
        "max |Δ attention| left vs right",
        f"{res.max_prob_diff:.3g}",
        help="Attention among real tokens, every layer and head.",
    )
    st.caption(
        f"Without position_ids, left padding starts the real tokens at the pad count instead of 0: the "
        f"logits then differ by {res.max_logit_diff_unshifted:.2g}. RoPE scores depend only on the offset "
        "between query and key, so that is rounding; a model with learned absolute positions (GPT-2) "
        "would change. Generation pads on the left so that every sentence's next token sits in the last "
        "column."
    )


def padding_sides(model, sentences: list[str], layer_head: Callable) -> None:
    name = state.model_name("text")
    res = cached_sides(name, str(state.device()), tuple(sentences))
    st.caption(f"**{widgets.literal(name)}** is a causal decoder: each query sees itself and earlier real tokens.")
    _batches(res)
    b = st.selectbox(
        "Sentence", range(len(res.left.tokens)), key="mk_dec_b", format_func=lambda i: f"#{i}", bind=widgets.Q
    )
    layer, head = layer_head(model, "mk_dec")
    for col, run in zip(st.columns(2), (res.left, res.right)):
        with col:
            figure(
                mask_plots.mask_figure(run.mask[b], run.tokens[b], f"{run.side} padding: causal ∧ real key"),
                f"mk_dec_mask_{run.side}",
                caption="The boolean (N, N) mask every layer and head applies: the "
                "lower triangle, without the pad columns.",
            )
            figure(
                mask_plots.probs_figure(
                    _probs_shown(run, layer, b, head), run.tokens[b], f"{run.side} padding: layer {layer}, head {head}"
                ),
                f"mk_dec_probs_{run.side}",
                caption="The decoder's real attention: 0 above the diagonal and on pad keys. Pad query rows "
                "are blank (fully masked; their outputs are never used).",
            )
    _checks(res)


def effect_note(model) -> None:
    """What imposing a mask means for this model."""
    name = widgets.literal(state.model_name("text"))
    if model.is_causal:
        st.caption(
            f"**{name}** is a causal decoder: *causal* is the mask it applies itself, so that figure is its "
            "attention as trained; any other mask replaces it — a what-if on weights trained causally."
        )
    else:
        st.caption(
            f"**{name}** is a bidirectional encoder: causal and prefix-LM masks here are what-ifs on weights "
            "trained without them. Pick a decoder (smollm2-135m) as the text model to see causal attention "
            "as trained, and left vs right padding under *Padding (batch)*."
        )
