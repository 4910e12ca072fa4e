"""Render helpers of the Masking page (one function per section: widgets → xviz → figure). Any text model of the
sidebar: an encoder (MiniLM) shows its padding mask and MLM; a causal decoder (SmolLM2) shows its own causal mask
with left vs right padding (decoder_sections.py); MLM always runs on an encoder."""

from __future__ import annotations

import streamlit as st

from xviz.analysis import masking
from xviz.app import state
from xviz.app.image_input import image_input
from xviz.app.masking import decoder as decoder_sections
from xviz.app.widgets import Q, figure
from xviz.models.contract import KINDS
from xviz.plots import masks as mask_plots

DEFAULT = "The cat sat on the mat.\nDogs bark.\nAttention is all you need, they said in 2017."


def sentences() -> list[str]:
    text = st.text_area("Sentences (one per line)", DEFAULT, key="mk_text", height=90, bind=Q)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines or [text]  # empty input → clean_text raises a clear InputError


def _layer_head(model, key: str) -> tuple[int, int]:
    c1, c2 = st.columns(2)
    for k, n in ((f"{key}_l", model.num_layers), (f"{key}_h", model.num_heads)):
        if st.session_state.get(k, 0) >= n:  # a smaller model than the last one
            st.session_state[k] = 0
    layer = c1.slider("Layer", 0, model.num_layers - 1, 0, key=f"{key}_l", bind=Q)
    head = c2.slider("Head", 0, model.num_heads - 1, 0, key=f"{key}_h", bind=Q)
    return layer, head


def _checks(res: masking.MaskedAttention) -> None:
    c1, c2 = st.columns(2)
    c1.metric("largest probability on a masked entry", f"{res.max_masked:.3g}")
    c2.metric("max |row sum − 1| (every layer, head, row)", f"{res.max_row_error:.1e}")


def padding_section() -> None:
    model = state.get_model("text")
    if model.is_causal:
        decoder_sections.padding_sides(model, sentences(), _layer_head)
        return
    batch, res = masking.padded_batch_attention(model, sentences())
    if batch.truncated:
        st.warning(f"Sentences longer than the model's positions were truncated to {model.max_positions} tokens.")
    st.markdown("The model receives the padded `input_ids` and this `attention_mask` (B × N; 1 = real token):")
    figure(
        mask_plots.batch_figure(batch.tokens, batch["attention_mask"]),
        "mk_batch",
        caption="Each sentence padded with [PAD] to the longest one; dark = 1 (a real token), light = 0.",
    )
    st.dataframe(masking.batch_table(batch.tokens, batch["attention_mask"]), hide_index=False)
    b = st.selectbox("Sentence", range(len(batch.tokens)), key="mk_b", format_func=lambda i: f"#{i}", bind=Q)
    layer, head = _layer_head(model, "mk_pad")
    a, c = st.columns(2)
    with a:
        figure(
            mask_plots.mask_figure(res.mask[b], batch.tokens[b], f"padding mask of #{b}"),
            "mk_pad_mask",
            caption="Inside the model this is the (B, 1, 1, N) key mask broadcast over heads and queries.",
        )
    with c:
        figure(
            mask_plots.probs_figure(res.probs[layer, b, head], batch.tokens[b], f"layer {layer}, head {head}"),
            "mk_pad_probs",
            caption="[PAD] columns are exactly 0; [PAD] query rows still attend to real keys.",
        )
    _checks(res)


def patterns_section() -> None:
    model = state.get_model("text")
    pk = _packed(model)
    c1, c2, c3 = st.columns(3)
    kind = c1.selectbox("Mask", masking.mask_kinds(padding=False), index=1, key="mk_kind", bind=Q)
    prefix = c2.slider("Prefix length (prefix-LM)", 0, len(pk.tokens), min(5, len(pk.tokens)), key="mk_prefix", bind=Q)
    window = c3.slider("Window / stride / block (sparse)", 1, 16, 4, key="mk_win", bind=Q)
    mask = masking.build_mask(kind, len(pk.tokens), pk.doc_ids, prefix=prefix, window=window)
    st.caption(
        "The sentences are packed into one row (each as the tokenizer gives it: [CLS] … [SEP] for BERT), as "
        "in pre-training with packing."
    )
    a, b = st.columns([3, 2])
    with a:
        figure(
            mask_plots.mask_figure(mask, pk.tokens, kind),
            "mk_pattern",
            caption="Row = query, column = key; dark = may attend. This is the boolean tensor the model gets.",
        )
    with b:
        if kind in ("causal", "prefix-LM", "document + causal"):
            labels = masking.lm_labels(pk.input_ids[0].cpu(), kind, prefix, pk.doc_ids)
            st.markdown("**As a language model's inputs and labels** (labels shifted by one):")
            st.dataframe(masking.lm_rows(pk.tokens, pk.input_ids[0], labels, model), hide_index=True, height=420)
        else:
            st.markdown(f"**Document of each token:** {pk.doc_ids.tolist()}")


def _packed(model) -> masking.Packed:
    pk = masking.pack(model, sentences())
    if pk.truncated:
        st.warning(f"The packed row was truncated to {len(pk.tokens)} tokens.")
    return pk


def _encoder():
    """The text model if it is an encoder; for a decoder, the default encoder (MLM is an encoder objective)."""
    model = state.get_model("text")
    if not model.is_causal:
        return model
    name = KINDS["text"].default
    st.info(
        f"MLM is the objective of bidirectional encoders; {state.model_name('text')} is a causal decoder, so "
        f"this section uses **{name}**."
    )
    return state.get_model_named(name)


def mlm_section() -> None:
    model = _encoder()
    text = st.text_input(
        "Sentence", "The quick brown fox jumps over the lazy dog near the river bank.", key="mk_mlm_text", bind=Q
    )
    c1, c2 = st.columns(2)
    seed = c1.number_input("Seed", 0, 1_000_000, 0, key="mk_seed", bind=Q)
    prob = c2.slider("Selection probability", 0.05, 0.5, 0.15, step=0.05, key="mk_prob", bind=Q)
    rows, out = masking.mlm_example(model, text, int(seed), prob)
    n_sel = int(out.selected.sum())
    st.markdown(
        f"**{n_sel}** of {len(rows) - 2} word pieces selected: {int(out.replaced.sum())} → [MASK], "
        f"{int(out.random.sum())} → random, {int(out.kept.sum())} kept. The attention mask is unchanged: "
        "MLM corrupts the *inputs* and predicts the selected positions."
    )
    figure(
        mask_plots.mlm_figure(rows),
        "mk_mlm",
        caption="Blue → [MASK] (80 %), orange → a random token (10 %), green → "
        "kept but still predicted (10 %), grey → special tokens (never selected). Labels elsewhere are −100.",
    )
    st.dataframe(rows, hide_index=True)


def mae_section() -> None:
    img = image_input("mk_img").image
    c1, c2, c3 = st.columns(3)
    ratio = c1.slider("Mask ratio", 0.0, 0.95, 0.75, step=0.05, key="mk_ratio", bind=Q)
    patch = c2.selectbox("Patch size (224 px image)", [14, 16, 32], index=1, key="mk_patch", bind=Q)
    seed = c3.number_input("Seed", 0, 1_000_000, 0, key="mk_mae_seed", bind=Q)
    is_masked, kept = masking.mae_patch_mask(224, int(patch), ratio, int(seed))
    n = is_masked.numel()
    st.markdown(
        f"**{n - kept}** of {n} patches hidden, **{kept}** visible (keep = int(N·(1 − ratio)); "
        "MAE keeps the patches with the smallest noise)."
    )
    a, b = st.columns(2)
    with a:
        figure(
            mask_plots.mae_mask_figure(img, is_masked, 224 // int(patch) * int(patch), "what the encoder sees"),
            "mk_mae",
            caption="Hidden patches greyed out: the encoder gets only the visible ones, as a shorter sequence.",
        )
    with b:
        figure(
            mask_plots.patch_grid_figure(is_masked),
            "mk_mae_grid",
            caption="The same mask as the model's (h, w) tensor is_masked (True = hidden).",
        )


def effect_section(compare: bool = False) -> None:
    """One mask (mask | attention under it) or two masks side by side on the same packed input."""
    model = state.get_model("text")
    pk = _packed(model)
    n = len(pk.tokens)
    decoder_sections.effect_note(model)
    kinds = masking.mask_kinds(padding=False)
    cols = st.columns(2 if compare else 1)
    chosen = [cols[0].selectbox("Mask A" if compare else "Mask", kinds, index=1, key="mk_eff_a", bind=Q)]
    if compare:
        chosen.append(cols[1].selectbox("Mask B", kinds, index=3, key="mk_eff_b", bind=Q))
    layer, head = _layer_head(model, "mk_eff")
    results = [
        (
            kind,
            masking.attention_under_mask(
                model, pk.input_ids, masking.build_mask(kind, n, pk.doc_ids, prefix=min(5, n))
            ),
        )
        for kind in chosen
    ]
    if not compare:
        kind, res = results[0]
        a, b = st.columns(2)
        with a:
            figure(
                mask_plots.mask_figure(res.mask, pk.tokens, kind),
                "mk_eff_mask_0",
                caption="The mask given to every layer and head (dark = may attend).",
            )
        with b:
            figure(
                mask_plots.probs_figure(res.probs[layer, head], pk.tokens, f"{kind}: layer {layer}, head {head}"),
                "mk_eff_probs_0",
                caption="The real model's attention under that mask: forbidden pairs are "
                "exactly 0 and each row still sums to 1.",
            )
        _checks(res)
        return
    for i, (col, (kind, res)) in enumerate(zip(st.columns(2), results)):
        with col:
            figure(
                mask_plots.mask_figure(res.mask, pk.tokens, kind),
                f"mk_eff_mask_{i}",
                caption=f"Mask {'AB'[i]} (dark = may attend).",
            )
            figure(
                mask_plots.probs_figure(res.probs[layer, head], pk.tokens, f"{kind}: layer {layer}, head {head}"),
                f"mk_eff_probs_{i}",
                caption=f"Attention of the same head under mask {'AB'[i]}.",
            )
            _checks(res)
