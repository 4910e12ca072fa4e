"""Render helpers of the Token mixers page: the four digit models, the input digit, the mixing operators, the
translation experiment."""

from __future__ import annotations

import streamlit as st
import torch

from xviz.analysis import mixers
from xviz.app import state, widgets
from xviz.app.widgets import Q
from xviz.data.digits import image_to_digit, load_split, shift
from xviz.errors import InputError, XvizError
from xviz.inputs.image import load_image
from xviz.plots import mixers as mixers_plots


def models() -> dict:
    """All four shipped digit models (shared, cached, eval mode); stops the page with a message if one is missing."""
    out = {}
    for name in mixers.MODEL_NAMES:
        try:
            out[name] = state.load_model_cached(name, str(state.device()))
        except XvizError as err:
            st.error(str(err))
            st.stop()
    return out


@st.cache_data(max_entries=4, show_spinner="Measuring accuracy, speed and shift behaviour on the held-out set…")
def model_table(device: str) -> tuple[list[dict], dict[str, list[float]]]:
    ms = {n: state.load_model_cached(n, device) for n in mixers.MODEL_NAMES}
    rows = [
        {
            "model": n,
            "token mixing": mixers.MIXING[n],
            "parameters": mixers.param_count(m),
            "held-out accuracy": round(mixers.held_out_accuracy(m), 4),
            "written beside the weights": round(float(m.train_meta["test_accuracy"]), 4),
            "ms / image (batch 64, this device)": round(mixers.speed_ms(m), 4),
        }
        for n, m in ms.items()
    ]
    return rows, {n: mixers.shift_accuracy(m) for n, m in ms.items()}


def digit_input() -> torch.Tensor:
    """A held-out digit (by index) or an uploaded picture → (1, 1, 16, 16) in [0, 1]."""
    src = st.radio("Digit", ["Held-out set", "Upload"], key="mx_src", horizontal=True, bind=Q)
    if src == "Held-out set":
        x, y = load_split("test")
        i = int(st.number_input(f"Index in the held-out set (0–{len(y) - 1})", 0, len(y) - 1, 0, key="mx_idx", bind=Q))
        st.caption(f"True label: **{int(y[i])}** (never seen in training).")
        return x[i : i + 1]
    up = st.file_uploader("A picture of one digit (PNG, JPEG, …; at least 16 px a side)", key="mx_file")
    if up is None:
        st.info("Upload a picture of a single digit, or pick one from the held-out set.")
        st.stop()
    try:
        return image_to_digit(load_image(up.getvalue(), widgets.literal(up.name[:80] or "upload")).image)
    except InputError as err:
        st.error(str(err))
        st.stop()


def shift_controls() -> tuple[int, int]:
    c1, c2 = st.columns(2)
    dx = c1.slider("Shift right (px)", -3, 3, 0, key="mx_dx", bind=Q)
    dy = c2.slider("Shift down (px)", -3, 3, 0, key="mx_dy", bind=Q)
    return int(dx), int(dy)


def predictions(ms: dict, x01: torch.Tensor, dx: int, dy: int) -> None:
    xs = shift(x01, dx, dy)
    probs = {n: mixers.probabilities(m, xs).numpy() for n, m in ms.items()}
    c1, c2 = st.columns([1, 2])
    with c1:
        widgets.figure(
            mixers_plots.digit_figure(xs, f"input, shifted ({dx:+d}, {dy:+d}) px"),
            "mx_digit",
            downloads=False,
            caption="16 × 16 input; red lines: the 4 × 4-px patches (tokens) of the ViT, Mixer and FNet.",
        )
    with c2:
        cols = st.columns(len(probs))
        for col, (n, p) in zip(cols, probs.items()):
            col.metric(n, f"{int(p.argmax())}", f"p = {float(p.max()):.2f}", delta_color="off", delta_arrow="off")
        widgets.figure(mixers_plots.probs_figure(probs, "Predicted probabilities"), "mx_probs")


def mixing_section(ms: dict, x01: torch.Tensor) -> None:
    vit, mixer = ms["vit-digits"], ms["mixer-digits"]
    n_layers = vit.cfg.num_layers
    layer = int(st.selectbox("Layer", range(n_layers), key="mx_layer", bind=Q))
    att = mixers.vit_attention(vit, x01)[layer]  # (H, 1 + N, 1 + N)
    heads = [att[h, 1:, 1:].numpy() for h in range(att.shape[0])]
    widgets.figure(
        mixers_plots.token_maps_figure(
            heads,
            [f"head {h}" for h in range(len(heads))],
            f"ViT layer {layer}: patch → patch attention on THIS digit",
            value="p",
        ),
        "mx_vit",
        caption="softmax(QKᵀ/√D) between the 16 patch tokens (CLS row and column left out); "
        "it changes with every input.",
    )
    c1, c2 = st.columns([1, 2])
    with c1:
        widgets.figure(
            mixers_plots.patch_map_figure(
                att[:, 0, 1:].mean(0).numpy(), vit.cfg.grid, f"ViT layer {layer}: CLS → patches, mean over heads"
            ),
            "mx_vit_cls",
            caption="Where the classification token reads from, on the 4 × 4 patch grid.",
        )
    with c2:
        widgets.figure(
            mixers_plots.patch_map_figure(
                mm_first_row(mixer, layer),
                mixer.cfg.grid,
                f"Mixer block {layer}: W2·W1 row of patch (1, 1)",
                signed=True,
            ),
            "mx_mixer_row",
            caption="How much each patch feeds patch (1, 1) through the Mixer's linear part — fixed for all digits.",
        )
    mm = mixers.mixer_matrices(mixer)
    widgets.figure(
        mixers_plots.token_maps_figure(
            [mm.linear[i].numpy() for i in range(mm.linear.shape[0])],
            [f"block {i}" for i in range(mm.linear.shape[0])],
            "Mixer: learned token mixing W2·W1 (the same for every digit and channel)",
            signed=True,
        ),
        "mx_mixer",
        caption="Each block mixes tokens with y = W2·gelu(W1·x + b1) + b2 per channel; shown "
        "is W2·W1 (16 × 16), the mixing without the GELU. Input-independent: "
        "this figure does not change when you pick another digit.",
    )
    cos, sin = mixers.fourier_token_matrices(mixer.cfg.num_tokens)
    widgets.figure(
        mixers_plots.token_maps_figure(
            [cos.numpy(), sin.numpy()],
            ["cos(2π jk / N)", "sin(2π jk / N)"],
            "FNet: fixed Fourier mixing over the 16 tokens (no parameters)",
            signed=True,
        ),
        "mx_fnet",
        caption="Re(FFT_tokens(FFT_hidden(X))) = cos·X·cos_C − sin·X·sin_C: every token "
        "receives every other with a fixed weight; the patches are treated as a 1-D "
        "sequence in raster order.",
    )


def shift_section(rows: list[dict], curves: dict[str, list[float]]) -> None:
    widgets.figure(
        mixers_plots.shift_figure([0, 1, 2, 3], curves),
        "mx_shift",
        caption="All 449 held-out digits shifted by s px (average of right, left, down, up; what leaves the "
        "frame is lost). None of the models saw a shifted digit in training.",
    )
    drop = {n: c[0] - c[-1] for n, c in curves.items()}
    best = min(drop, key=drop.get)
    st.markdown(
        f"At 3 px the smallest drop is **{best}** ({drop[best]:.1%}); the largest is "
        f"**{max(drop, key=drop.get)}** ({max(drop.values()):.1%}). Weight sharing over positions and "
        "pooling give the CNN a built-in tolerance to translation; the token models must learn it from data "
        "(their position embeddings tie what they learned to where it was)."
    )


def mm_first_row(mixer, layer: int):
    return mixers.mixer_matrices(mixer).linear[layer, mixer.cfg.grid + 1].numpy()  # row of patch (1, 1): (N,)


def shifted(x01: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    return shift(x01, dx, dy)
