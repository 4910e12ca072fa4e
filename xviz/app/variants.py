"""Streamlit pieces of the attention-variants page: input choice, parameter sliders, the three sections.
All numbers come from xviz.analysis (variant_inputs, variant_eval, scaling); figures from xviz.plots.variants."""

from __future__ import annotations

import dataclasses

import streamlit as st
import torch

from xviz.analysis.scaling import default_sizes, measure_scaling
from xviz.analysis.variant_eval import evaluate, evaluate_all
from xviz.analysis.variant_inputs import HeadQKV, image_qkv, synthetic_qkv, text_qkv
from xviz.app import state
from xviz.app.image_input import image_input
from xviz.app.widgets import Q, figure
from xviz.device import device_label
from xviz.kernels import KERNELS, KernelParams, kernel_available
from xviz.plots import variants as vplots
from xviz.pretrained.zoo import ZOO
from xviz.variants import PARAMS, VARIANTS, Param, VariantParams, used_params

DEFAULT_TEXT = (
    "Efficient attention replaces the full matrix of every token looking at every other token "
    "with a cheaper pattern, and this page shows what that costs on a real head."
)
SOURCES = ["Sentence", "Image", "Synthetic long sequence"]


# ---- inputs ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner="Recording Q/K/V…")
def _text_head(model_name: str, device: str, text: str, layer: int, head: int) -> HeadQKV:
    return text_qkv(state.load_model_cached(model_name, device), text, layer, head)


@st.cache_data(max_entries=16, show_spinner="Recording Q/K/V…")
def _image_head(model_name: str, device: str, digest: str, layer: int, head: int, _img) -> HeadQKV:
    """Keyed on the LoadedImage's digest (the picture itself, `_img`, is not hashed again)."""
    return image_qkv(state.load_model_cached(model_name, device), _img.image, layer, head, size=224)


@st.cache_data(max_entries=8, show_spinner=False)
def _synthetic(n: int, seed: int) -> HeadQKV:
    return synthetic_qkv(n, 64, seed)


def _layer_head(model, key: str) -> tuple[int, int]:
    """Layer and head pickers, keyed per model so a smaller model never sees an out-of-range value."""
    c1, c2 = st.columns(2)
    L, H = model.num_layers, model.num_heads
    key = f"{key}_{model.name}"
    layer = c1.number_input("Layer", 0, L - 1, min(2, L - 1), key=f"{key}_layer", bind=Q)
    head = c2.number_input("Head", 0, H - 1, 0, key=f"{key}_head", bind=Q)
    return int(layer), int(head)


def has_image_model() -> bool:
    return "dinov2-s14" in ZOO or bool(state.model_choices("image"))


def input_section() -> tuple[HeadQKV, str]:
    """The Q/K/V the page works on (a head of the text / image model, or a synthetic sequence) and a plain
    string key naming it, for the caches below."""
    sources = SOURCES if has_image_model() else [SOURCES[0], SOURCES[2]]
    src = st.radio("Input", sources, horizontal=True, key="var_src", bind=Q)
    if src == "Sentence":
        text = st.text_area("Sentence", DEFAULT_TEXT, key="var_text", height=80, bind=Q)
        model = state.get_model("text")
        layer, head = _layer_head(model, "var_text")
        args = (state.model_name("text"), str(state.device()), text, layer, head)
        qkv = _text_head(*args)
        if qkv.source.endswith("(truncated)"):
            st.warning(f"The sentence is longer than the page's limit: only its first {qkv.n} tokens are used.")
        if qkv.causal:
            st.caption(
                f"**{state.model_name('text')}** is a causal decoder: this head only ever attends to earlier "
                "tokens, so its full attention and the variants are compared causally (Parameters → Causal)."
                + (
                    " Under grouped-query attention its K and V are those of the KV head serving this query head."
                    if model.num_kv_heads != model.num_heads
                    else ""
                )
            )
        return qkv, repr(args)
    if src == "Image":
        img = image_input("var_img")
        model = state.get_model("image")
        note = state.model_note(state.model_name("image"), model)
        if note:
            st.caption(note)
        layer, head = _layer_head(model, "var_img")
        args = (state.model_name("image"), str(state.device()), img.digest, layer, head)
        return _image_head(*args, img), repr(args)
    c1, c2 = st.columns(2)
    n = c1.select_slider("Tokens N", [64, 128, 256, 512, 1024], 256, key="var_syn_n", bind=Q)
    seed = c2.number_input("Seed", 0, 10_000, 0, key="var_syn_seed", bind=Q)
    return _synthetic(int(n), int(seed)), f"synthetic {n} {seed}"


# ---- parameters -----------------------------------------------------------------------------------------------
def params_section() -> VariantParams:
    """One shared set of sliders, built from the registry: every knob some variant reads, once, in its column
    (knobs nobody reads keep VariantParams' default)."""
    with st.expander("Parameters (window, stride, globals, buckets, k, m, seed, …)", expanded=False):
        cols = st.columns(4)
        kw = {name: _param_widget(cols[PARAMS[name].column], PARAMS[name]) for name in used_params()}
    return VariantParams(**kw)


def _help(spec: Param) -> str:
    """The knob's meaning and the variants it changes (from the registry, so the list never goes stale)."""
    readers = ", ".join(v.label for v in VARIANTS.values() if spec.name in v.reads)
    return (f"{spec.help}. " if spec.help else "") + f"Read by: {readers}."


def _param_widget(col, spec: Param):
    """The widget a Param asks for, bound to the URL under its key."""
    if spec.name == "causal":
        return _causal_checkbox(col, spec)
    kw = dict(key=spec.key, help=_help(spec), bind=Q)
    if spec.widget == "slider":
        return col.slider(spec.label, spec.min, spec.max, spec.default, spec.step, **kw)
    if spec.widget == "select_slider":
        return col.select_slider(spec.label, list(spec.options), spec.default, **kw)
    if spec.widget == "selectbox":
        return col.selectbox(spec.label, list(spec.options), index=spec.options.index(spec.default), **kw)
    if spec.widget == "checkbox":
        return col.checkbox(spec.label, spec.default, **kw)
    return int(col.number_input(spec.label, spec.min, spec.max, spec.default, spec.step, **kw))


def _causal_checkbox(col, spec: Param) -> bool:
    """On by default for a decoder's head (its real attention is causal); a separate key per case, so switching
    between an encoder and a decoder restores each one's own default (and a URL names which one it sets)."""
    decoder = st.session_state.get("var_src", SOURCES[0]) == SOURCES[0] and state.get_model("text").is_causal
    return col.checkbox(spec.label, decoder, key=f"{spec.key}_dec" if decoder else spec.key, help=spec.help, bind=Q)


# ---- sections ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _evaluate(key: str, name: str, params: dict, _head: HeadQKV):
    return evaluate(name, _head.q, _head.k, _head.v, VariantParams(**params))


@st.cache_data(max_entries=16, show_spinner="Running every variant…")
def _evaluate_all(key: str, params: dict, names: tuple, _head: HeadQKV):
    """`names`: the registry's variants, part of the cache key (a variant registered later is run, not missed)."""
    return evaluate_all(_head.q, _head.k, _head.v, VariantParams(**params), names)


def _metrics(res) -> None:
    fl, mem = res.cost.relative_to(res.cost_full)
    e = res.errors
    c = st.columns(3)
    c[0].metric("density", f"{res.cost.density:.3f}")
    c[1].metric("FLOPs vs full", f"{fl:.3g}×", help=res.cost.formula)
    c[2].metric("memory vs full", f"{mem:.3g}×")
    c = st.columns(3)
    c[0].metric("relative output error", f"{e['relative_error']:.3g}")
    c[1].metric(
        "row KL(approx‖full)",
        "n/a" if e["kl"] is None else f"{e['kl']:.3g}",
        help="n/a when rows are not probability distributions (signed or unnormalised mixing)",
    )
    c[2].metric("top-5 overlap", f"{e['topk_overlap']:.2f}")
    if e["empty_rows"] > 0:
        st.caption(f"{e['empty_rows']:.0%} of the queries get no key at all (output 0).")


def _label(name: str) -> str:
    return VARIANTS[name].label


def _note(spec) -> str:
    """The variant's note and the knobs it reads (the sliders that change it)."""
    knobs = ", ".join(PARAMS[r].label for r in spec.reads)
    return spec.note + (f" Parameters: {knobs}." if knobs else "")


def compare_section(head: HeadQKV, key: str, params: VariantParams) -> None:
    names = list(VARIANTS)
    p = dataclasses.asdict(params)
    cols = st.columns(2)
    res = []
    for col, wkey, default in ((cols[0], "var_a", "sliding_window"), (cols[1], "var_b", "performer")):
        with col:  # bound to the URL (?var_a=Longformer, by label): a shared link opens the same comparison
            name = st.selectbox(
                "Variant A" if wkey == "var_a" else "Variant B",
                names,
                key=wkey,
                bind=Q,
                index=names.index(default) if default in names else 0,
                format_func=_label,
            )
            r = _evaluate(key, name, p, head)
            st.caption(_note(VARIANTS[name]))
            figure(
                vplots.variant_figure(r, with_full=False),
                key=f"{wkey}_fig",
                caption="Left: the query–key pairs it computes (dark). Right: its effective attention matrix.",
            )
            _metrics(r)
            res.append(r)
    c1, c2 = st.columns(2)
    with c1:
        figure(
            vplots.full_figure(res[0]),
            key="var_full_fig",
            caption="Full softmax attention of this head (causal when variant A is).",
        )
    with c2:
        figure(
            vplots.difference_figure(res[0], res[1], res[0].label, res[1].label),
            key="var_diff_fig",
            caption="A − B of the effective attention matrices.",
        )


def gallery_section(head: HeadQKV, key: str, params: VariantParams) -> None:
    results = _evaluate_all(key, dataclasses.asdict(params), tuple(VARIANTS), head)
    figure(
        vplots.gallery_figure(results),
        key="var_gallery",
        caption="|effective attention| of every variant on this head, each scaled to its own maximum.",
    )
    rows = [r.row() for r in results]
    figure(
        vplots.cost_error_figure([r for r in rows if r["relative output error"] > 0]),
        key="var_cost_err",
        caption="Lower left is best: cheap and close to full attention. Both axes are logarithmic.",
    )
    st.dataframe(rows, hide_index=True, width="stretch", key="var_table")


@st.cache_data(max_entries=16, show_spinner=False)
def measure_cached(device: str, kernels: tuple, sizes: tuple, dtype: str, heads: int, params: dict) -> list:
    """Measured once per set of plain values; the progress bar lives inside, so a cache hit replays it full."""
    bar = st.progress(0.0, text="Measuring…")
    rows = measure_scaling(
        kernels,
        sizes,
        device,
        getattr(torch, dtype),
        heads,
        64,
        KernelParams(**params),
        progress=lambda f, msg: bar.progress(min(f, 1.0), text=f"Measuring {msg}"),
    )
    bar.progress(1.0, text=f"Measured {len(rows)} points on {device}.")
    return rows


def _kernel_label(name: str) -> str:
    return KERNELS[name].label


def measure_section() -> None:
    dev = state.device()
    st.caption(
        f"Synthetic Q/K/V, batch 1, head dim 64, on **{device_label(dev)}**. Time is the median of 3 "
        "runs; memory is the extra peak allocated by one call."
    )
    names = [n for n in KERNELS if kernel_available(n, dev)]
    if len(names) < len(KERNELS):
        st.caption(
            "The compiled FlexAttention block-sparse kernels (sliding window, BigBird) are offered on a "
            "CUDA device; the CPU runs small sizes of the rest."
        )
    c = st.columns(4)
    # Bound to the URL; the defaults depend on the device, and only values off the default are written.
    kernels = c[0].multiselect("Kernels", names, names, format_func=_kernel_label, key="var_kern", bind=Q)
    sizes_all = sorted(set(default_sizes(dev) + [64, 2048, 4096]))
    sizes = c[1].multiselect("Sequence lengths", sizes_all, default_sizes(dev), key="var_sizes", bind=Q)
    heads = c[2].slider("Heads", 1, 16, 8 if dev.type == "cuda" else 4, key="var_heads", bind=Q)
    dtypes = ["bfloat16", "float16", "float32"] if dev.type == "cuda" else ["float32"]
    dtype = c[3].selectbox("dtype", dtypes, key="var_dtype", bind=Q)
    c, big = st.columns(3), dev.type == "cuda"
    kp = dict(
        window=c[0].slider("window w", 2, 1024, 512 if big else 64, 2, key="var_kw", bind=Q),
        features=c[1].slider("Performer m", 8, 512, 256 if big else 64, key="var_km", bind=Q),
        proj_dim=c[2].slider("Linformer k", 8, 512, 256 if big else 64, key="var_kk", bind=Q),
    )
    request = (str(dev), tuple(kernels), tuple(sorted(sizes)), dtype, int(heads), kp)
    if st.button("Measure", type="primary", key="var_measure", disabled=not (kernels and sizes)):
        st.session_state["var_request"] = request
    if st.session_state.get("var_request") != request:
        st.info("Choose kernels and lengths, then press **Measure**.")
        return
    rows = measure_cached(*request)
    figure(
        vplots.scaling_figure(rows, device_label(dev)),
        key="var_scaling",
        caption="Log-log: a slope of 2 is quadratic in N (full attention), a slope of 1 linear.",
    )
    st.dataframe(rows, hide_index=True, width="stretch", key="var_scaling_table")
