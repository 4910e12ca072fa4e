"""Attention page, image input: the Statistics, Collapse and Export tabs (mean attention distance, entropy,
high-norm tokens, DeepViT collapse, the recording), and the per-view column layout every image tab shares."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis.collapse import cross_layer_similarity
from xviz.analysis.head_stats import (
    head_entropy,
    high_norm_tokens,
    max_norm_ratio_per_layer,
    mean_attention_distance,
    norm_ratio,
    sink_tokens,
    token_norms,
)
from xviz.analysis.image_run import ImageRun
from xviz.analysis.rollout import token_map
from xviz.app import widgets
from xviz.app.widgets import Q
from xviz.plots.attention import layer_head_figure
from xviz.plots.vision import attention_figure, collapse_figure, mean_distance_figure, norm_ratio_figure

CAPTIONS = {
    "distance": "Mean attention distance (ViT paper, Fig. 7): Σ_j a_ij·‖pos_i − pos_j‖ in pixels, averaged over "
    "query patches; one dot per head. Low = local heads, high = global ones.",
    "entropy": "Entropy of each head's attention rows in nats (low = focused on few tokens), averaged over queries.",
    "sinks": "Residual-stream norm of every token relative to the median patch (Darcet et al. 2023): patches "
    "far above the threshold are 'high-norm' tokens that tend to soak up attention (outlined in red).",
    "collapse": "DeepViT attention collapse: cosine similarity between the attention maps of two layers (per "
    "head and key column, averaged). Values near 1 off the diagonal mean deeper layers repeat "
    "earlier ones.",
    "ratio": "Per layer, the largest patch-token norm over the median one; layers above the dashed threshold "
    "carry high-norm tokens.",
}


def in_columns(runs, fn) -> list:
    """fn(*run) for each view, side by side (one column per view)."""
    out = []
    for col, item in zip(st.columns(len(runs)), runs):
        with col:
            out.append(fn(*item))
    return out


def titled(tag: str, text: str) -> str:
    return f"{tag}: {text}" if tag else text


def compare_images(runs) -> bool:
    return len(runs) == 2 and runs[0][1] is not runs[1][1]


@st.cache_data(max_entries=8, show_spinner="Computing per-head statistics…")
def _stats(_run: ImageRun, key: str) -> dict:
    probs = _run.probs()
    valid = torch.as_tensor(_run.valid)
    return {
        "mad": mean_attention_distance(probs, _run.grid, _run.patch_size, _run.num_prefix, valid),
        "entropy": torch.stack([head_entropy(probs[i].float()) for i in range(probs.shape[0])]),
        "ratio": max_norm_ratio_per_layer(_run.resids(), _run.num_prefix),
    }


def tab_stats(runs, query, stem) -> None:
    factor = st.slider("High-norm threshold (× median patch norm)", 1.5, 10.0, 2.0, 0.5, key="img_factor", bind=Q)

    def one(tag, run: ImageRun, layer, head):
        s = _stats(run, run.key)
        side = max(run.image.size)
        widgets.figure(
            mean_distance_figure(s["mad"], side, titled(tag, "mean attention distance")),
            key=f"img_mad{tag}",
            caption=CAPTIONS["distance"],
        )
        widgets.figure(
            layer_head_figure(s["entropy"], titled(tag, "entropy (nats)")),
            key=f"img_ent{tag}",
            caption=CAPTIONS["entropy"],
        )
        norms = token_norms(run.rec["resid_post", layer])
        flagged = high_norm_tokens(norms, run.num_prefix, factor)
        sinks = sink_tokens(run.probs()[layer].float())
        names = ", ".join(run.labels[i] for i in sinks) or "none"
        st.markdown(
            f"**Layer {layer}:** {len(flagged)} high-norm patch token(s) above {factor:g}× the median; "
            f"tokens receiving > 10× the uniform share of attention: {names}."
        )
        ratio = token_map(norm_ratio(norms, run.num_prefix), run.num_prefix, run.grid)
        fig = attention_figure(
            run.image,
            ratio,
            run.patch_size,
            titled(tag, f"‖x‖ / median, layer {layer}"),
            valid=run.valid,
            value_name="norm ratio",
        )
        gw = run.grid[1]
        for i in flagged:
            r, c = divmod(i - run.num_prefix, gw)
            fig.add_shape(
                type="rect",
                x0=c * run.patch_size,
                x1=(c + 1) * run.patch_size,
                y0=r * run.patch_size,
                y1=(r + 1) * run.patch_size,
                line=dict(color="#ff2d55", width=2),
            )
        widgets.figure(fig, key=f"img_norms{tag}", caption=CAPTIONS["sinks"])
        widgets.figure(
            norm_ratio_figure(s["ratio"], factor, titled(tag, "largest patch norm per layer")),
            key=f"img_ratio{tag}",
            caption=CAPTIONS["ratio"],
        )

    in_columns(runs if compare_images(runs) else runs[:1], one)


@st.cache_data(max_entries=8, show_spinner="Comparing every pair of layers…")
def _collapse(_run: ImageRun, key: str) -> torch.Tensor:
    return cross_layer_similarity(_run.probs())


def tab_collapse(runs, query, stem) -> None:
    def one(tag, run: ImageRun, layer, head):
        widgets.figure(
            collapse_figure(_collapse(run, run.key), titled(tag, "cross-layer attention similarity")),
            key=f"img_collapse{tag}",
            caption=CAPTIONS["collapse"],
        )

    in_columns(runs if compare_images(runs) else runs[:1], one)


def tab_export(runs, query, stem) -> None:
    for tag, run, _, _ in runs if compare_images(runs) else runs[:1]:
        st.markdown(f"**Recording {tag or 'A'}** — {len(run.rec)} tensors, {run.rec.nbytes() / 2**20:.1f} MiB")
        widgets.recording_downloads(run.rec, f"xviz-{stem}-image-{tag or 'A'}", key=f"img_export{tag}")
