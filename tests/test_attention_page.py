"""AppTest of the Attention page (text): what is shown equals what the model computes."""
import base64
import json

import numpy as np
import pytest
import torch
from conftest import app_test

import xviz

PAGE = "views/attention.py"


def _arr(v) -> np.ndarray:
    """Plotly ≥ 6 ships arrays as {dtype, bdata (base64), shape}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(x) for x in str(v.get("shape", len(a))).split(",")]) if "shape" in v else a
    return np.array(v, dtype=np.float64)


def _figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _by_title(at, prefix: str) -> dict:
    for fig in _figures(at):
        if fig["layout"].get("title", {}).get("text", "").startswith(prefix):
            return fig
    raise AssertionError(f"no figure titled {prefix!r}; have {[f['layout'].get('title') for f in _figures(at)]}")


def _probs(minilm, text, layer, head):
    with torch.no_grad(), xviz.record(minilm, names="*.hook_probs") as rec:
        minilm(**minilm.prepare(text))
    return rec["probs", layer][0, head].numpy()


@pytest.fixture(scope="module")
def at():
    a = app_test(PAGE)
    assert not a.exception
    return a


def test_head_heatmap_shows_the_models_probabilities(at, minilm):
    at.session_state["attn_tab"] = "Head"
    at.text_area(key="attn_text").input("Attention is all you need.").run()
    at.selectbox(key="attn_layer").set_value(4).run()
    at.selectbox(key="attn_head").set_value(9).run()
    assert not at.exception
    fig = _by_title(at, "Probabilities — layer 4, head 9")
    z = _arr(fig["data"][0]["z"])
    np.testing.assert_allclose(z, _probs(minilm, "Attention is all you need.", 4, 9), atol=1e-6)
    ticks = fig["layout"]["xaxis"]["ticktext"]
    assert ticks[0] == "[CLS]" and "attention" in ticks and ticks[-1] == "[SEP]"


def test_compare_two_sentences_difference_map(at, minilm):
    at.session_state["attn_tab"] = "Head"
    at.radio(key="attn_compare").set_value("Two sentences").run()
    at.text_area(key="attn_text").input("The cat sat on the mat.").run()
    at.text_area(key="attn_text_b").input("The dog sat on the mat.").run()
    assert not at.exception
    diff = _by_title(at, "A − B")
    z = _arr(diff["data"][0]["z"])
    pa = _probs(minilm, "The cat sat on the mat.", 4, 9)
    pb = _probs(minilm, "The dog sat on the mat.", 4, 9)
    np.testing.assert_allclose(z, pa - pb, atol=1e-6)
    assert _by_title(at, "Probabilities — A: layer 4, head 9")


def test_compare_two_heads_and_other_tabs(at):
    at.radio(key="attn_compare").set_value("Two layers/heads").run()
    at.selectbox(key="attn_layer_b").set_value(1).run()
    at.selectbox(key="attn_head_b").set_value(2).run()
    assert _by_title(at, "Probabilities — B: layer 1, head 2")
    for tab in ("Overview", "Q / K / V", "Neuron view", "Lines", "Statistics", "Export"):
        at.session_state["attn_tab"] = tab
        at.run()
        assert not at.exception, tab
        if tab == "Statistics":
            assert _arr(_by_title(at, "A: entropy")["data"][0]["z"]).shape == (6, 12)
        if tab == "Export":
            assert any(b.label == "Recording (.npz)" for b in at.get("download_button"))


def test_statistics_values(minilm):
    at = app_test(PAGE)
    at.session_state["attn_tab"] = "Statistics"
    at.text_area(key="attn_text").input("One two three four.").run()
    ent = _arr(_by_title(at, "entropy")["data"][0]["z"])
    with torch.no_grad(), xviz.record(minilm, names="*.hook_probs") as rec:
        minilm(**minilm.prepare("One two three four."))
    p = rec.stack("probs")[:, 0].double()
    expected = (-(p * p.clamp_min(1e-30).log()).sum(-1)).mean(-1).numpy()
    np.testing.assert_allclose(ent, expected, atol=1e-4)


@pytest.mark.parametrize("text,kind,needle", [
    ("   ", "error", "empty"),
    ("word " * 600, "warning", "truncated to 512 tokens"),
])
def test_bad_text_gives_a_message(text, kind, needle):
    at = app_test(PAGE)
    at.text_area(key="attn_text").input(text).run()
    assert not at.exception
    msgs = [m.value for m in getattr(at, kind)]
    assert any(needle in m for m in msgs), msgs
    # the session stays usable
    at.text_area(key="attn_text").input("Fine again.").run()
    assert not at.exception and not at.error


def test_markup_and_scripts_are_shown_literally():
    at = app_test(PAGE)
    at.session_state["attn_tab"] = "Head"
    at.text_area(key="attn_text").input("<b>bold</b> 🙂 中文 עברית \u202e").run()
    assert not at.exception
    fig = _by_title(at, "Probabilities")
    ticks = fig["layout"]["xaxis"]["ticktext"]
    assert "&lt;" in ticks and "<" not in "".join(ticks)  # escaped for plotly's HTML-ish labels
    assert not any("<b>" in m.value for m in at.markdown)


def test_sqrt_colour_scale_keeps_true_values(minilm):
    from xviz.plots.heatmap import gamma_colorscale
    at = app_test(PAGE)
    at.session_state["attn_tab"] = "Head"
    at.run()
    at.toggle(key="attn_sqrt").set_value(True).run()
    assert not at.exception
    fig = _by_title(at, "Probabilities — layer 0, head 0")
    np.testing.assert_allclose(_arr(fig["data"][0]["z"]), _probs(minilm, at.text_area(key="attn_text").value, 0, 0),
                               atol=1e-6)  # hover values unchanged
    scale = fig["data"][0]["colorscale"]
    assert scale[16][1] == gamma_colorscale()[16][1] != gamma_colorscale(gamma=1.0)[16][1]
