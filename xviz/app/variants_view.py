"""Streamlit pieces of the attention-variants page: input choice, parameter sliders, the three sections.
All numbers come from xviz.analysis (variant_inputs, variant_eval, scaling); figures from xviz.plots.variants."""
from __future__ import annotations

import dataclasses
import hashlib

import streamlit as st
import torch

from xviz.analysis.scaling import default_sizes, measure_scaling
from xviz.analysis.variant_eval import evaluate, evaluate_all
from xviz.analysis.variant_inputs import HeadQKV, image_qkv, synthetic_qkv, text_qkv
from xviz.app import state
from xviz.app.widgets import figure
from xviz.device import device_label
from xviz.kernels import KERNELS, KernelParams, kernel_available
from xviz.models.loading import REGISTRY
from xviz.plots import variants as vplots
from xviz.variants import VARIANTS, VariantParams

DEFAULT_TEXT = ("Efficient attention replaces the full matrix of every token looking at every other token "
                "with a cheaper pattern, and this page shows what that costs on a real head.")
SOURCES = ["Sentence", "Image", "Synthetic long sequence"]


# ---- inputs ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Recording Q/K/V…")
def _text_head(model_name: str, device: str, text: str, layer: int, head: int) -> HeadQKV:
    return text_qkv(state.load_model_cached(model_name, device), text, layer, head)


@st.cache_data(max_entries=16, show_spinner="Recording Q/K/V…")
def _image_head(model_name: str, device: str, pixels: bytes, size: tuple, mode: str, layer: int, head: int
                ) -> HeadQKV:
    from PIL import Image
    img = Image.frombytes(mode, size, pixels)
    return image_qkv(state.load_model_cached(model_name, device), img, layer, head, size=224)


@st.cache_data(max_entries=8, show_spinner=False)
def _synthetic(n: int, seed: int) -> HeadQKV:
    return synthetic_qkv(n, 64, seed)


def _layer_head(model, key: str) -> tuple[int, int]:
    """Layer and head pickers, keyed per model so a smaller model never sees an out-of-range value."""
    c1, c2 = st.columns(2)
    L, H = model.num_layers, model.num_heads
    key = f"{key}_{model.name}"
    layer = c1.number_input("Layer", 0, L - 1, min(2, L - 1), key=f"{key}_layer")
    head = c2.number_input("Head", 0, H - 1, 0, key=f"{key}_head")
    return int(layer), int(head)


def has_image_model() -> bool:
    return "dinov2-s14" in REGISTRY or bool(state.model_choices("image"))


def input_section() -> tuple[HeadQKV, str]:
    """The Q/K/V the page works on (a head of the text / image model, or a synthetic sequence) and a plain
    string key naming it, for the caches below."""
    sources = SOURCES if has_image_model() else [SOURCES[0], SOURCES[2]]
    src = st.radio("Input", sources, horizontal=True, key="var_src")
    if src == "Sentence":
        text = st.text_area("Sentence", DEFAULT_TEXT, key="var_text", height=80)
        model = state.get_model("text")
        layer, head = _layer_head(model, "var_text")
        args = (state.model_name("text"), str(state.device()), text, layer, head)
        qkv = _text_head(*args)
        if qkv.source.endswith("(truncated)"):
            st.warning(f"The sentence is longer than the page's limit: only its first {qkv.n} tokens are used.")
        if qkv.causal:
            st.caption(f"**{state.model_name('text')}** is a causal decoder: this head only ever attends to earlier "
                       "tokens, so its full attention and the variants are compared causally (Parameters → Causal)."
                       + (" Under grouped-query attention its K and V are those of the KV head serving this query "
                          "head." if model.num_kv_heads != model.num_heads else ""))
        return qkv, repr(args)
    if src == "Image":
        from xviz.app.image_input import image_input
        img = image_input("var_img")
        model = state.get_model("image")
        note = state.model_note(state.model_name("image"), model)
        if note:
            st.caption(note)
        layer, head = _layer_head(model, "var_img")
        pixels = img.tobytes()
        args = (state.model_name("image"), str(state.device()), hashlib.sha1(pixels).hexdigest(), layer, head)
        return _image_head(*args[:2], pixels, img.size, img.mode, layer, head), repr(args)
    c1, c2 = st.columns(2)
    n = c1.select_slider("Tokens N", [64, 128, 256, 512, 1024], 256, key="var_syn_n")
    seed = c2.number_input("Seed", 0, 10_000, 0, key="var_syn_seed")
    return _synthetic(int(n), int(seed)), f"synthetic {n} {seed}"


# ---- parameters -----------------------------------------------------------------------------------------------
def params_section() -> VariantParams:
    """One shared set of sliders; every variant reads the knobs it has."""
    with st.expander("Parameters (window, stride, globals, buckets, k, m, seed, …)", expanded=False):
        c = st.columns(4)
        kw = dict(
            window=c[0].slider("Window w (|i − j| ≤ w/2)", 2, 256, 8, 2, key="var_w"),
            dilation=c[0].slider("Dilation d", 1, 8, 2, key="var_d"),
            stride=c[0].slider("Stride / Sparse Transformer l", 1, 64, 4, key="var_stride"),
            summary=c[0].slider("Fixed pattern: summary c", 1, 16, 1, key="var_c"),
            n_global=c[1].slider("Global tokens", 0, 8, 1, key="var_glob"),
            block=c[1].slider("Block (BigBird, Sinkhorn)", 2, 64, 4, key="var_block"),
            num_random=c[1].slider("BigBird random blocks r", 0, 8, 1, key="var_r"),
            n_clusters=c[1].slider("k-means clusters", 1, 32, 3, key="var_clusters"),
            n_buckets=c[2].select_slider("LSH buckets", [1, 2, 4, 8, 16, 32, 64], 4, key="var_buckets"),
            n_hashes=c[2].slider("LSH rounds", 1, 8, 2, key="var_hashes"),
            shared_qk=c[2].checkbox("Reformer shared-QK", False, key="var_shared"),
            proj_dim=c[2].slider("Linformer k", 1, 512, 8, key="var_k"),
            projection=c[3].selectbox("Linformer E, F", ["pool", "gaussian"], key="var_proj"),
            features=c[3].slider("Performer features m", 1, 1024, 64, key="var_m"),
            orthogonal=c[3].checkbox("Orthogonal features", True, key="var_orf"),
            causal=_causal_checkbox(c[3]),
            seed=int(c[3].number_input("Seed", 0, 10_000, 0, key="var_seed")),
        )
    return VariantParams(**kw)


def _causal_checkbox(col) -> bool:
    """On by default for a decoder's head (its real attention is causal); a separate key per case, so switching
    between an encoder and a decoder restores each one's own default."""
    decoder = st.session_state.get("var_src", SOURCES[0]) == SOURCES[0] and state.get_model("text").is_causal
    return col.checkbox("Causal", decoder, key="var_causal_dec" if decoder else "var_causal",
                        help="Mask keys after the query (j > i), in the variant and in the full attention it "
                             "is compared with.")


# ---- sections ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _evaluate(key: str, name: str, params: dict, _head: HeadQKV):
    return evaluate(name, _head.q, _head.k, _head.v, VariantParams(**params))


@st.cache_data(max_entries=16, show_spinner="Running every variant…")
def _evaluate_all(key: str, params: dict, _head: HeadQKV):
    return evaluate_all(_head.q, _head.k, _head.v, VariantParams(**params))


def _metrics(res) -> None:
    fl, mem = res.cost.relative_to(res.cost_full)
    e = res.errors
    c = st.columns(3)
    c[0].metric("density", f"{res.cost.density:.3f}")
    c[1].metric("FLOPs vs full", f"{fl:.3g}×", help=res.cost.formula)
    c[2].metric("memory vs full", f"{mem:.3g}×")
    c = st.columns(3)
    c[0].metric("relative output error", f"{e['relative_error']:.3g}")
    c[1].metric("row KL(approx‖full)", "n/a" if e["kl"] is None else f"{e['kl']:.3g}",
                help="n/a when rows are not probability distributions (signed or unnormalised mixing)")
    c[2].metric("top-5 overlap", f"{e['topk_overlap']:.2f}")
    if e["empty_rows"] > 0:
        st.caption(f"{e['empty_rows']:.0%} of the queries get no key at all (output 0).")


def compare_section(head: HeadQKV, key: str, params: VariantParams) -> None:
    names = list(VARIANTS)
    p = dataclasses.asdict(params)
    cols = st.columns(2)
    res = []
    for col, wkey, default in ((cols[0], "var_a", "sliding_window"), (cols[1], "var_b", "performer")):
        with col:
            param = wkey[-1]  # ?a=…&b=… in the URL: a shared link opens the same comparison
            if wkey not in st.session_state:
                st.session_state[wkey] = st.query_params.get(param) if st.query_params.get(param) in names \
                    else default
            name = st.selectbox("Variant A" if wkey == "var_a" else "Variant B", names,
                                format_func=lambda n: VARIANTS[n].label, key=wkey)
            st.query_params[param] = name
            r = _evaluate(key, name, p, head)
            st.caption(VARIANTS[name].note)
            figure(vplots.variant_figure(r, with_full=False), key=f"{wkey}_fig",
                   caption="Left: the query–key pairs it computes (dark). Right: its effective attention matrix.")
            _metrics(r)
            res.append(r)
    c1, c2 = st.columns(2)
    with c1:
        figure(vplots.full_figure(res[0]), key="var_full_fig",
               caption="Full softmax attention of this head (causal when variant A is).")
    with c2:
        figure(vplots.difference_figure(res[0], res[1], res[0].label, res[1].label), key="var_diff_fig",
               caption="A − B of the effective attention matrices.")


def gallery_section(head: HeadQKV, key: str, params: VariantParams) -> None:
    results = _evaluate_all(key, dataclasses.asdict(params), head)
    figure(vplots.gallery_figure(results), key="var_gallery",
           caption="|effective attention| of every variant on this head, each scaled to its own maximum.")
    rows = [r.row() for r in results]
    figure(vplots.cost_error_figure([r for r in rows if r["relative output error"] > 0]), key="var_cost_err",
           caption="Lower left is best: cheap and close to full attention. Both axes are logarithmic.")
    st.dataframe(rows, hide_index=True, width="stretch", key="var_table")


@st.cache_data(max_entries=16, show_spinner=False)
def measure_cached(device: str, kernels: tuple, sizes: tuple, dtype: str, heads: int, params: dict) -> list:
    """Measured once per set of plain values; the progress bar lives inside, so a cache hit replays it full."""
    bar = st.progress(0.0, text="Measuring…")
    rows = measure_scaling(kernels, sizes, device, getattr(torch, dtype), heads, 64, KernelParams(**params),
                           progress=lambda f, msg: bar.progress(min(f, 1.0), text=f"Measuring {msg}"))
    bar.progress(1.0, text=f"Measured {len(rows)} points on {device}.")
    return rows


def measure_section() -> None:
    dev = state.device()
    st.caption(f"Synthetic Q/K/V, batch 1, head dim 64, on **{device_label(dev)}**. Time is the median of 3 "
               "runs; memory is the extra peak allocated by one call.")
    names = [n for n in KERNELS if kernel_available(n, dev)]
    if len(names) < len(KERNELS):
        st.caption("The compiled FlexAttention block-sparse kernels (sliding window, BigBird) are offered on a "
                   "CUDA device; the CPU runs small sizes of the rest.")
    c = st.columns(4)
    kernels = c[0].multiselect("Kernels", names, names, format_func=lambda n: KERNELS[n].label, key="var_kern")
    sizes_all = sorted(set(default_sizes(dev) + [64, 2048, 4096]))
    sizes = c[1].multiselect("Sequence lengths", sizes_all, default_sizes(dev), key="var_sizes")
    heads = c[2].slider("Heads", 1, 16, 8 if dev.type == "cuda" else 4, key="var_heads")
    dtypes = ["bfloat16", "float16", "float32"] if dev.type == "cuda" else ["float32"]
    dtype = c[3].selectbox("dtype", dtypes, key="var_dtype")
    c = st.columns(3)
    kp = dict(window=c[0].slider("window w", 2, 1024, 512 if dev.type == "cuda" else 64, 2, key="var_kw"),
              features=c[1].slider("Performer m", 8, 512, 256 if dev.type == "cuda" else 64, key="var_km"),
              proj_dim=c[2].slider("Linformer k", 8, 512, 256 if dev.type == "cuda" else 64, key="var_kk"))
    request = (str(dev), tuple(kernels), tuple(sorted(sizes)), dtype, int(heads), kp)
    if st.button("Measure", type="primary", key="var_measure", disabled=not (kernels and sizes)):
        st.session_state["var_request"] = request
    if st.session_state.get("var_request") != request:
        st.info("Choose kernels and lengths, then press **Measure**.")
        return
    rows = measure_cached(*request)
    figure(vplots.scaling_figure(rows, device_label(dev)), key="var_scaling",
           caption="Log-log: a slope of 2 is quadratic in N (full attention), a slope of 1 linear.")
    st.dataframe(rows, hide_index=True, width="stretch", key="var_scaling_table")
