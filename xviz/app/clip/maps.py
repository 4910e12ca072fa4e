"""CLIP page: where a caption looks on the image (patch similarity, gradient × attention relevance), and inside both
towers (the image tower's attention as on the Attention page; the text tower's attention and the pooled token)."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis.head_stats import mean_attention_distance
from xviz.analysis.rollout import attention_map, rollout_row, token_map
from xviz.app import widgets
from xviz.app.clip.common import Ctx, has_text, knows_shapes_only, maps_run, text_run, tower_run
from xviz.app.image_input import image_input
from xviz.app.widgets import Q
from xviz.plots import clip as clip_plots
from xviz.plots.heatmap import heatmap
from xviz.plots.vision import attention_figure, mean_distance_figure

CAPTIONS = {
    "similarity": "Each patch token alone through the image tower's pooling path (CLIP: post-norm and visual "
    "projection; SigLIP: its attention-pool head on that one token), cosine with the caption's embedding.",
    "relevance": "Gradient × attention (Chefer, Wolf & Gur 2021): R = I, then per layer R ← R + mean_h((∇A ⊙ A)⁺)·R "
    "with ∇A = ∂cos(image, caption)/∂A, read at the pooled token(s) (CLIP: CLS; SigLIP: its pooling probe's "
    "weights). Gradients by torch.autograd.grad on recorded attention; the shared model is untouched.",
    "map": "Where the query token of the image tower looks (one row of softmax(QKᵀ/√d)), as on the Attention page.",
    "rollout": "Attention rollout (Abnar & Zuidema 2020): ½·A + ½·I per layer, heads averaged, multiplied through.",
    "distance": "Mean attention distance per head and layer (ViT paper, Fig. 7), in pixels of the model input.",
}


def where_section(ctx: Ctx) -> None:
    left, right = st.columns([1, 3])
    with left:
        img = image_input("clip_img", "Image", model=ctx.name)
        if not has_text(ctx):
            return
        key, default = ("clip_caption_shapes", "a red circle") if knows_shapes_only(ctx) else ("clip_caption", "a cat")
        st.session_state.setdefault(key, default)
        caption = st.text_input("Caption", key=key, bind=Q, max_chars=300)
    m = maps_run(ctx.name, ctx.device, img.digest, caption, img)
    with right:
        a, b = st.columns(2)
        with a:
            widgets.figure(
                attention_figure(
                    m["image"],
                    m["similarity"],
                    m["patch"],
                    "patch · caption cosine",
                    valid=m["valid"],
                    value_name="cosine",
                ),
                "clip_where_sim",
                caption=CAPTIONS["similarity"],
            )
        with b:
            widgets.figure(
                attention_figure(
                    m["image"],
                    m["relevance"],
                    m["patch"],
                    "gradient × attention relevance",
                    valid=m["valid"],
                    robust=True,
                    value_name="relevance",
                ),
                "clip_where_rel",
                caption=CAPTIONS["relevance"],
            )


def _image_query(run) -> int:
    """The query token of the image tower: CLS (when the tower has one) or a patch."""
    gh, gw = run.grid
    options = ["CLS", "Patch"] if run.num_prefix else ["Patch"]
    if st.session_state.get("clip_vq", options[0]) not in options:
        st.session_state["clip_vq"] = options[0]
    c1, c2, c3 = st.columns(3)
    kind = c1.radio("Query token", options, key="clip_vq", horizontal=True, bind=Q)
    row = c2.number_input("Patch row", 0, gh - 1, gh // 2, key="clip_vrow", disabled=kind == "CLS", bind=Q)
    col = c3.number_input("Patch column", 0, gw - 1, gw // 2, key="clip_vcol", disabled=kind == "CLS", bind=Q)
    return 0 if kind == "CLS" else run.num_prefix + min(int(row), gh - 1) * gw + min(int(col), gw - 1)


def _layer_head(prefix: str, layers: int, heads: int) -> tuple[int, int | None]:
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", range(layers), index=layers - 1, key=f"{prefix}_layer", bind=Q)
    head = c2.selectbox(
        "Head",
        ["mean", *range(heads)],
        key=f"{prefix}_head",
        bind=Q,
        format_func=lambda h: "mean of heads" if h == "mean" else f"head {h}",
    )
    return int(layer), None if head == "mean" else int(head)


def image_tower_section(ctx: Ctx, img) -> None:
    run = tower_run(ctx.name, ctx.device, img.digest, img)
    if run.notice:
        st.info(run.notice)
    probs = run.probs()
    layer, head = _layer_head("clip_v", run.num_layers, run.num_heads)
    q = _image_query(run)
    who = "CLS" if q < run.num_prefix else "the patch"
    amap = attention_map(probs[layer].float(), q, head, run.num_prefix, run.grid)
    roll = token_map(rollout_row(probs, q), run.num_prefix, run.grid)
    a, b = st.columns(2)
    with a:
        hd = "mean of heads" if head is None else f"head {head}"
        fig = attention_figure(
            run.image, amap, run.patch_size, f"{who} → patches, layer {layer}, {hd}", valid=run.valid
        )
        widgets.figure(fig, "clip_vmap", caption=CAPTIONS["map"])
    with b:
        fig = attention_figure(
            run.image, roll, run.patch_size, f"rollout into {who}", valid=run.valid, robust=True, value_name="rollout"
        )
        widgets.figure(fig, "clip_vroll", caption=CAPTIONS["rollout"])
    mad = mean_attention_distance(probs, run.grid, run.patch_size, run.num_prefix, torch.as_tensor(run.valid))
    widgets.figure(
        mean_distance_figure(mad, max(run.image.size), "mean attention distance"),
        "clip_vmad",
        caption=CAPTIONS["distance"],
    )


def _pool_note(ctx: Ctx, t) -> str:
    token = widgets.literal(t.tokens[t.pool])
    if ctx.model.is_sigmoid:
        return (
            f"SigLIP pools the **last position, {t.pool}** (`{token}`): it pads every text to its full length "
            f"({t.padded} padding tokens here) and reads the final state there, after the final norm and a linear head."
        )
    return (
        f"CLIP pools at the **end token, position {t.pool}** (`{token}`): the highest token id (legacy configs) or "
        "the first end-of-text token; its final state goes through the final norm and the text projection. With a "
        "causal mask it is the only position that has seen the whole text."
    )


def text_tower_section(ctx: Ctx) -> None:
    st.session_state.setdefault("clip_ttext", "a photo of a cat")
    text = st.text_input("Text", key="clip_ttext", bind=Q, max_chars=300)
    t = text_run(ctx.name, ctx.device, text)
    st.markdown(_pool_note(ctx, t))
    mask = "causal (each token sees only earlier ones)" if t.causal else "bidirectional"
    L, H = t.probs.shape[:2]
    layer, head = _layer_head("clip_t", L, H)
    mat = t.probs[layer].mean(0) if head is None else t.probs[layer, head]  # (N, N)
    a, b = st.columns(2)
    with a:
        hd = "mean of heads" if head is None else f"head {head}"
        widgets.figure(
            heatmap(mat, t.tokens, t.tokens, f"text tower, layer {layer}, {hd}", zmin=0.0, value_name="attention"),
            "clip_tmap",
            caption=f"The text tower's self-attention is {mask}.",
        )
    with b:
        widgets.figure(
            clip_plots.pooled_rows_figure(t.probs[:, :, t.pool].mean(1), t.tokens, t.pool, "the pooled token's row"),
            "clip_tpool",
            caption="Where the pooled position (▶) looks in every layer, mean of heads: what the text embedding reads.",
        )


def towers_section(ctx: Ctx) -> None:
    tower = st.radio("Tower", ["Image tower", "Text tower"], key="clip_tower", horizontal=True, bind=Q)
    if tower == "Image tower":
        left, right = st.columns([1, 3])
        with left:
            img = image_input("clip_img", "Image", model=ctx.name)
        with right:
            image_tower_section(ctx, img)
    elif has_text(ctx):
        text_tower_section(ctx)
