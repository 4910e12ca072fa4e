"""AppTest of the Attention page (text): what is shown equals what the model computes."""

import numpy as np
import pytest
import torch
from helpers import app_test, app_with_text_model, figure_titled, figures, heatmap_z, title_of

import xviz

PAGE = "views/attention.py"


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
    fig = figure_titled(at, "Probabilities — layer 4, head 9")
    z = heatmap_z(fig)
    np.testing.assert_allclose(z, _probs(minilm, "Attention is all you need.", 4, 9), atol=1e-6)
    ticks = fig["layout"]["xaxis"]["ticktext"]
    assert ticks[0] == "[CLS]" and "attention" in ticks and ticks[-1] == "[SEP]"


def test_compare_two_sentences_difference_map(at, minilm):
    at.session_state["attn_tab"] = "Head"
    at.radio(key="attn_compare").set_value("Two sentences").run()
    at.text_area(key="attn_text").input("The cat sat on the mat.").run()
    at.text_area(key="attn_text_b").input("The dog sat on the mat.").run()
    assert not at.exception
    diff = figure_titled(at, "A − B")
    z = heatmap_z(diff)
    pa = _probs(minilm, "The cat sat on the mat.", 4, 9)
    pb = _probs(minilm, "The dog sat on the mat.", 4, 9)
    np.testing.assert_allclose(z, pa - pb, atol=1e-6)
    assert figure_titled(at, "Probabilities — A: layer 4, head 9")


def test_compare_two_heads_and_other_tabs(at):
    at.radio(key="attn_compare").set_value("Two layers/heads").run()
    at.selectbox(key="attn_layer_b").set_value(1).run()
    at.selectbox(key="attn_head_b").set_value(2).run()
    assert figure_titled(at, "Probabilities — B: layer 1, head 2")
    for tab in ("Overview", "Q / K / V", "Neuron view", "Lines", "Statistics", "Export"):
        at.session_state["attn_tab"] = tab
        at.run()
        assert not at.exception, tab
        if tab == "Statistics":
            assert heatmap_z(figure_titled(at, "A: entropy")).shape == (6, 12)
        if tab == "Export":
            assert any(b.label == "Recording (.npz)" for b in at.get("download_button"))


def test_statistics_values(minilm):
    at = app_test(PAGE)
    at.session_state["attn_tab"] = "Statistics"
    at.text_area(key="attn_text").input("One two three four.").run()
    ent = heatmap_z(figure_titled(at, "entropy"))
    with torch.no_grad(), xviz.record(minilm, names="*.hook_probs") as rec:
        minilm(**minilm.prepare("One two three four."))
    p = rec.stack("probs")[:, 0].double()
    expected = (-(p * p.clamp_min(1e-30).log()).sum(-1)).mean(-1).numpy()
    np.testing.assert_allclose(ent, expected, atol=1e-4)


@pytest.mark.parametrize(
    "text,kind,needle", [("   ", "error", "empty"), ("word " * 600, "warning", "truncated to 512 tokens")]
)
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
    fig = figure_titled(at, "Probabilities")
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
    fig = figure_titled(at, "Probabilities — layer 0, head 0")
    np.testing.assert_allclose(
        heatmap_z(fig), _probs(minilm, at.text_area(key="attn_text").value, 0, 0), atol=1e-6
    )  # hover values unchanged
    scale = fig["data"][0]["colorscale"]
    assert scale[16][1] == gamma_colorscale()[16][1] != gamma_colorscale(gamma=1.0)[16][1]


# ---- any text model: a causal decoder (tiny random Llama with GQA, fixture tiny_lm; SmolLM2 in the slow tests) --
def _lm_app(name: str, tab: str, text: str = "The cat sat on the mat.", **state):
    at = app_with_text_model(name, PAGE)
    at.session_state["attn_tab"] = tab
    for k, v in state.items():
        at.session_state[k] = v
    at.text_area(key="attn_text").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _lm_probs(model, text):
    with torch.no_grad(), xviz.record(model, names="*.hook_probs") as rec:
        model(**model.prepare(text))
    return rec.stack("probs")[:, 0].double()  # (L, H, N, N)


def _check_causal_head(at, model, text, layer, head):
    fig = figure_titled(at, f"Probabilities — layer {layer}, head {head}")
    z = heatmap_z(fig)
    np.testing.assert_allclose(z, _lm_probs(model, text)[layer, head].numpy(), atol=1e-6)
    assert np.triu(z, 1).max() == 0.0 and np.allclose(z.sum(-1), 1, atol=1e-5)  # the causal triangle
    assert fig["layout"]["xaxis"]["ticktext"] == [t.replace("<", "&lt;") for t in model.prepare(text).tokens[0]]
    scores = heatmap_z(figure_titled(at, f"Scores before softmax — layer {layer}, head {head}"))
    assert np.isnan(scores[np.triu_indices(len(z), 1)]).all() and np.isfinite(np.tril(scores)).all()
    assert any("Causal decoder" in c.value for c in at.caption)


def test_decoder_head_shows_the_causal_triangle(tiny_lm):
    model = xviz.load_model(tiny_lm)
    at = _lm_app(tiny_lm, "Head", attn_layer=1, attn_head=3)
    _check_causal_head(at, model, "The cat sat on the mat.", 1, 3)
    at.session_state["attn_tab"] = "Q / K / V"
    at.run()
    k = heatmap_z(figure_titled(at, "K — layer 1, head 3 (KV head 1)"))  # GQA: 4 query heads, 2 KV heads
    with torch.no_grad(), xviz.record(model, names="blocks.1.attn.hook_k") as rec:
        model(**model.prepare("The cat sat on the mat."))
    np.testing.assert_allclose(k, rec["k", 1][0, 1].numpy(), atol=1e-6)
    for tab in ("Overview", "Neuron view", "Lines", "Collapse", "Export"):
        at.session_state["attn_tab"] = tab
        at.run()
        assert not at.exception, tab


def test_decoder_statistics_sink_and_no_cls_sep(tiny_lm):
    model = xviz.load_model(tiny_lm)
    at = _lm_app(tiny_lm, "Statistics")
    titles = [title_of(f) for f in figures(at)]
    assert titles == ["entropy (nats)", "mean distance (tokens)", "share on the first token (sink)"]  # no [CLS]
    sink = heatmap_z(figure_titled(at, "share on the first token"))
    np.testing.assert_allclose(sink, _lm_probs(model, "The cat sat on the mat.")[..., 0].mean(-1).numpy(), atol=1e-5)


def test_encoder_statistics_keep_cls_sep():
    at = app_test(PAGE)
    at.session_state["attn_tab"] = "Statistics"
    at.run()
    titles = [title_of(f) for f in figures(at)]
    assert titles[-1] == "share on [CLS]/[SEP]" and "share on the first token (sink)" in titles


def test_two_models_each_with_its_own_tokens(tiny_lm):
    at = _lm_app(tiny_lm, "Head", attn_compare="Two models")
    assert at.selectbox(key="attn_model_b").value == "minilm-l6"
    a = figure_titled(at, "Probabilities — A: layer 0, head 0")
    b = figure_titled(at, "Probabilities — B: layer 0, head 0")
    assert a["layout"]["xaxis"]["ticktext"][0] == "The" and b["layout"]["xaxis"]["ticktext"][0] == "[CLS]"
    assert not any(title_of(f).startswith("A − B") for f in figures(at))
    at.selectbox(key="attn_layer_b").set_value(5).run()  # MiniLM's own layers: 6, the tiny LM has 2
    assert figure_titled(at, "Probabilities — B: layer 5, head 0")
    at.session_state["attn_tab"] = "Statistics"
    at.run()
    titles = [title_of(f) for f in figures(at)]
    assert "A: share on the first token (sink)" in titles and "A: share on [CLS]/[SEP]" not in titles
    assert "B: share on [CLS]/[SEP]" in titles
    assert heatmap_z(figure_titled(at, "A: entropy")).shape == (2, 4)
    assert heatmap_z(figure_titled(at, "B: entropy")).shape == (6, 12)


@pytest.mark.slow
def test_smollm2_head_overview_and_statistics():
    model = xviz.load_model("smollm2-135m")
    text = "The capital of France is Paris."
    at = _lm_app("smollm2-135m", "Head", text, attn_layer=18, attn_head=6)
    _check_causal_head(at, model, text, 18, 6)
    at.session_state["attn_tab"] = "Overview"
    at.run()
    grid = figure_titled(at, "all layers × heads")["layout"]
    assert len(grid["yaxis"]["ticktext"]) == 30 and len(grid["xaxis"]["ticktext"]) == 9  # the 30 × 9 overview
    at.session_state["attn_tab"] = "Statistics"
    at.run()
    sink = heatmap_z(figure_titled(at, "share on the first token"))
    np.testing.assert_allclose(sink, _lm_probs(model, text)[..., 0].mean(-1).numpy(), atol=1e-5)
    assert sink.shape == (30, 9) and sink[5:].mean() > 0.5  # SmolLM2's deeper heads park attention on token 0


@pytest.mark.slow
def test_smollm2_long_text_runs_on_demand_and_is_compared_with_minilm():
    at = _lm_app("smollm2-135m", "Head", "word " * 600)  # 600 tokens: past 512, within SmolLM2's 8192 positions
    assert not any("truncated" in w.value for w in at.warning)
    assert any("computed on demand" in c.value for c in at.caption)
    assert figure_titled(at, "Probabilities — layer 0, head 0 (cells of 2 × 2 tokens, averaged)")
    at.text_area(key="attn_text").input("The cat sat on the mat.").run()
    at.radio(key="attn_compare").set_value("Two models").run()
    assert not at.exception
    a = figure_titled(at, "Probabilities — A: layer 0, head 0")
    b = figure_titled(at, "Probabilities — B: layer 0, head 0")
    assert a["layout"]["xaxis"]["ticktext"] == ["The", " cat", " sat", " on", " the", " mat", "."]
    assert b["layout"]["xaxis"]["ticktext"] == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]


def test_record_estimate_is_exact_for_encoder_and_gqa_decoder(tiny_lm, minilm):
    from xviz.analysis.text_run import estimate_record_bytes, run_text

    for model in (minilm, xviz.load_model(tiny_lm)):
        run = run_text(model, ["The cat sat on the mat."])
        n = len(run.tokens[0])
        assert estimate_record_bytes(model, 1, n) == run.rec.nbytes()  # k, v per KV head under GQA
        assert run.valid == [[True] * n] and run.is_causal == model.is_causal


def test_cpu_fallback_reloads_adapter_models_and_refuses_dispatched_ones(tiny_lm):
    from xviz.analysis.text_run import cpu_copy
    from xviz.errors import ResourceError

    model = xviz.load_model(tiny_lm)
    copy = cpu_copy(model)  # a fresh load: the adapter's hooks belong to the modules they were attached to
    assert copy is not model and copy.device.type == "cpu"
    with torch.no_grad(), xviz.record(copy, names="*.hook_probs") as rec:
        copy(**copy.prepare("ab ab"))
    assert rec.num_layers("probs") == 2
    model.hf_model.hf_device_map = {"": "cuda:0"}  # as accelerate leaves it after dispatch
    with pytest.raises(ResourceError):
        cpu_copy(model)
