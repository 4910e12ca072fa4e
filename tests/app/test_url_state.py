"""URL state (AppTest): every page's main controls and the sidebar's model pickers are bound with
bind="query-params", so a link reopens the same view.

Per page: open it with URL parameters (`at.query_params` before the first run, as a shared link does) and check
that the widgets hold the URL's values, that the page shows the matching content, and that each widget carries its
key as `query_param_key` — the instruction with which the browser writes every change into the URL (AppTest has no
browser, so a `set_value` does not rewrite `at.query_params`). Changes the app itself makes (a button's callback,
a value clamped by the page) are written by the server: those are checked in `at.query_params` directly."""

from __future__ import annotations

import pytest
import torch
from helpers import app_test, figure_titles

from xviz.pretrained.zoo import ZOO

torch.set_num_threads(1)

ACCESSORS = (
    "selectbox",
    "radio",
    "slider",
    "select_slider",
    "number_input",
    "text_input",
    "text_area",
    "checkbox",
    "toggle",
    "multiselect",
)
TABS = ("attn_tab", "img_tab", "lm_tab")  # st.tabs: their value is read from session state


def open_url(page: str, params: dict, timeout: float = 180):
    """The whole app opened with `params` in the URL (a shared link), then on `page` (AppTest learns the pages'
    URL paths from the first run, so it starts on Home; the parameters of other pages stay in the URL meanwhile)."""
    at = app_test(page, timeout, query=params)
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(at, key: str):
    for name in ACCESSORS:
        for w in getattr(at, name):
            if w.key == key:
                return w
    raise AssertionError(f"no widget with key {key!r} on the page")


def value(at, key: str):
    return at.session_state[key] if key in TABS else widget(at, key).value


def page_text(at) -> str:
    """Everything a reader sees as text: markdown, captions, messages, metrics, figure titles."""
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "warning", "error") for e in at.get(kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    return " | ".join(parts + [figure_titles(at)])


# (page, URL parameters, widget values they must produce, text the page must then show)
CASES = [
    pytest.param(
        "views/attention.py",
        {
            "attn_compare": "Two layers/heads",
            "attn_layer": "3",
            "attn_head": "5",
            "attn_layer_b": "1",
            "attn_head_b": "2",
            "attn_tab": "Head",
            "attn_sqrt": "true",
            "attn_text": "Dogs bark at night.",
        },
        {
            "attn_compare": "Two layers/heads",
            "attn_layer": 3,
            "attn_head": 5,
            "attn_layer_b": 1,
            "attn_head_b": 2,
            "attn_tab": "Head",
            "attn_sqrt": True,
            "attn_text": "Dogs bark at night.",
        },
        ["Probabilities — A: layer 3, head 5", "Probabilities — B: layer 1, head 2"],
        id="attention-text",
    ),
    pytest.param(
        "views/attention.py",
        {
            "attn_mode": "Image",
            "img_query": "Patch",
            "img_row": "5",
            "img_col": "7",
            "img_layer": "8",
            "img_head": "head 3",
            "img_tab": "Rollout",
            "img_fusion": "max",
            "img_depth": "6",
        },
        {
            "attn_mode": "Image",
            "img_query": "Patch",
            "img_row": 5,
            "img_col": 7,
            "img_layer": 8,
            "img_head": 3,
            "img_tab": "Rollout",
            "img_fusion": "max",
            "img_depth": 6,
        },
        ["rollout into the patch, layers 0–5, max"],
        id="attention-image",
    ),
    pytest.param(
        "views/swin.py",
        {"swin_view": "SW-MSA mask", "swin_M": "4", "swin_shift": "1", "swin_win": "5"},
        {"swin_view": "SW-MSA mask", "swin_M": 4, "swin_shift": 1, "swin_win": 5},
        ["Feature map 32 × 32 tokens (64 windows of 4×4)", "window 5: tokens by region"],
        id="swin",
    ),
    pytest.param(
        "views/mae.py",
        {
            "mae_view": "Side by side",
            "mae_strategy": "block",
            "mae_ratio": "0.5",
            "mae_seed": "3",
            "mae_cmp": "two strategies",
            "mae_strategy_b": "grid",
        },
        {
            "mae_view": "Side by side",
            "mae_strategy": "block",
            "mae_ratio": 0.5,
            "mae_seed": 3,
            "mae_cmp": "two strategies",
            "mae_strategy_b": "grid",
        },
        ["A: block, ratio 0.50", "B: grid, ratio 0.50"],
        id="mae",
    ),
    pytest.param(
        "views/masking.py",
        {"mk_view": "Attention masks", "mk_text": "Dogs bark.\nCats sleep.", "mk_kind": "prefix-LM", "mk_prefix": "3"},
        {"mk_view": "Attention masks", "mk_text": "Dogs bark.\nCats sleep.", "mk_kind": "prefix-LM", "mk_prefix": 3},
        ["prefix-LM — ", "As a language model's inputs and labels"],
        id="masking",
    ),
    pytest.param(
        "views/positional.py",
        {"pe_view": "RoPE & ALiBi", "pe_rn": "16", "pe_rd": "8", "pe_ri": "halves", "pe_ah": "4"},
        {"pe_view": "RoPE & ALiBi", "pe_rn": 16, "pe_rd": 8, "pe_ri": "halves", "pe_ah": 4},
        ["ALiBi: additive bias −m_h·|i − j| for 4 heads"],
        id="positional",
    ),
    pytest.param(
        "views/mixers.py",
        {"mx_idx": "7", "mx_dx": "2", "mx_dy": "-1", "mx_layer": "1"},
        {"mx_idx": 7, "mx_dx": 2, "mx_dy": -1, "mx_layer": 1},
        ["input, shifted (+2, -1) px", "ViT layer 1"],
        id="mixers",
    ),
    pytest.param(
        "views/encdec.py",
        {
            "ed_task": "copy",
            "ed_src": "My name is Alan Turing.",
            "ed_view": "Decoding step by step",
            "ed_strategy": "beam",
            "ed_beams": "4",
        },
        {
            "ed_task": "copy",
            "ed_src": "My name is Alan Turing.",
            "ed_view": "Decoding step by step",
            "ed_strategy": "beam",
            "ed_beams": 4,
        },
        ["Output: **Alan Turing** — correct", "Beam search tree (4 beams)"],
        id="encdec",
    ),
    pytest.param(
        "views/stepwise.py",
        {"sw_text": "Dogs bark.", "sw_layer": "2", "sw_head": "3", "sw_step": "q", "sw_pad": "2"},
        {"sw_text": "Dogs bark.", "sw_layer": 2, "sw_head": 3, "sw_step": "q", "sw_pad": 2},
        ["(N, C) = (7, 384)", "blocks.2.attn.hook_q", "layer 2, head 3"],
        id="stepwise",
    ),
    pytest.param(
        "views/layernorm.py",
        {
            "ln_d": "64",
            "ln_depths": ["6", "12"],
            "ln_seeds": "2",
            "ln_shown": "6",
            "ln_task": "copy",
            "ln_lr": "0.001",
            "ln_warmup": "60",
        },
        {
            "ln_d": 64,
            "ln_depths": [6, 12],
            "ln_seeds": 2,
            "ln_shown": 6,
            "ln_task": "copy",
            "ln_lr": 1e-3,
            "ln_warmup": 60,
        },
        ["Reading it (L = 6)", "at L = 12"],
        id="layernorm",
    ),
    pytest.param(
        "views/language_model.py",
        {
            "lm_prompt": "The capital of Italy is",
            "lm_tab": "Logit lens",
            "lm_lens_window": "4",
            "lm_lens_answer": " Rome",
        },
        {
            "lm_prompt": "The capital of Italy is",
            "lm_tab": "Logit lens",
            "lm_lens_window": 4,
            "lm_lens_answer": " Rome",
        },
        ["Rome"],
        id="language-model",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "views/clip.py",
        {"clip_view": "Side by side", "clip_cmp": "Two templates", "clip_tpl_b": "a photo of a {}."},
        {"clip_view": "Side by side", "clip_cmp": "Two templates", "clip_tpl_b": "a photo of a {}."},
        ["template A vs template B"],
        id="clip",
        marks=pytest.mark.skipif("clip-shapes" not in ZOO, reason="no CLIP model in the zoo yet (clip-shapes)"),
    ),
]


@pytest.mark.parametrize(("page", "params", "expected", "shown"), CASES)
def test_link_reopens_the_same_view(page, params, expected, shown):
    at = open_url(page, params)
    assert {k: value(at, k) for k in expected} == expected
    text = page_text(at)
    for part in shown:
        assert part in text, (part, text[:2000])
    for key in expected:
        if key not in TABS:
            assert widget(at, key).proto.query_param_key == key  # the browser writes its changes into the URL
    assert at.query_params == params  # non-default values stay in the URL, nothing else is added


def test_sidebar_model_pickers_are_in_the_url():
    at = open_url("views/attention.py", {"attn_mode": "Image", "model_image": "vit-digits"})
    assert widget(at, "model_image").value == "vit-digits"
    assert "Model: **vit\\-digits**" in page_text(at)  # the page runs on the linked model (4 layers, not 12)
    assert "CLS → patches, layer 3, mean of heads" in page_text(at)
    for kind in ("text", "lm", "image", "mae", "swin"):
        assert widget(at, f"model_{kind}").proto.query_param_key == f"model_{kind}"
    assert at.query_params == {"attn_mode": "Image", "model_image": "vit-digits"}


def test_sidebar_drops_a_model_it_does_not_have():
    """A custom model of another session (or a typo) is not offered here: the default is used and the URL cleaned."""
    at = open_url("views/home.py", {"model_swin": "/elsewhere/my-swin", "model_text": "smollm2-135m"})
    assert widget(at, "model_swin").value == "swin-tiny"
    assert widget(at, "model_text").value == "smollm2-135m"
    assert at.query_params == {"model_text": "smollm2-135m"}


def test_changes_made_by_the_app_are_written_to_the_url():
    at = open_url("views/stepwise.py", {"sw_step": "q"})
    at.button(key="sw_next").click().run()  # a callback moves the step: the server writes it
    assert widget(at, "sw_step").value == "k" and at.query_params["sw_step"] == "k"
    at = open_url("views/encdec.py", {})
    at.selectbox(key="ed_task").set_value("date").run()  # the task's callback puts its first example in
    assert at.query_params.get("ed_src") == "3rd of March 2021"


def test_a_clamped_value_leaves_the_url():
    at = open_url("views/swin.py", {"swin_shift": "6"})
    assert widget(at, "swin_shift").value == 6
    at.slider(key="swin_M").set_value(4).run()  # shift 6 no longer fits: back to ⌊M/2⌋, the default
    assert widget(at, "swin_shift").value == 2 and "swin_shift" not in at.query_params
