"""AppTest of the Circuits page: every section renders on a small random-init Llama with a tokenizer (added as a
custom LM, as the sidebar's "Add a model" does) with the numbers of the analysis functions; bad prompt pairs get a
message, never an exception; the view lives in the URL. One slow test on SmolLM2's IOI preset."""

import numpy as np
import pytest
import torch
from helpers import app_test, figure_titled, figures, heatmap_z

import xviz
from xviz.analysis import attribution, patching
from xviz.analysis.circuit_inputs import prompt_pairs

PAGE = "views/circuits.py"
PAIR = {"ci_preset": "Typed", "ci_clean": "The cat sat on the", "ci_corrupt": "The dog sat on the",
        "ci_answer": " mat", "ci_wrong": " sat"}  # fmt: skip


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def at(tiny_lm):
    at = app_test(PAGE, timeout=300, query=PAIR, state={"custom_models_lm": [tiny_lm], "model_lm": tiny_lm})
    _ok(at)
    return at


@pytest.fixture(scope="module")
def model(tiny_lm):
    return xviz.load_model(tiny_lm)


def _section(at, name, **state):
    at.session_state["ci_view"] = name
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    return at


def test_activation_patching_grid_is_the_sweep(at, model):
    _section(at, "Activation patching", ci_patch="Heads: output z", ci_norm="logit difference")
    pairs = prompt_pairs(model, *(PAIR[k] for k in ("ci_clean", "ci_corrupt", "ci_answer", "ci_wrong")))
    expected = patching.sweep(model, pairs, "z").mean.numpy()
    z = heatmap_z(figure_titled(at, "Head output z"))
    np.testing.assert_allclose(z, expected, atol=1e-5)
    labels = [m.label for m in at.metric]
    assert "Clean run" in labels and "Corrupted run" in labels
    _section(
        at, "Activation patching", ci_patch="Attention and MLP outputs", ci_norm="normalised (0 corrupted, 1 clean)"
    )
    titles = [f["layout"]["title"]["text"] for f in figures(at)]
    assert titles[:2] == ["Attention output", "MLP output"]
    assert np.nanmax(heatmap_z(figures(at)[0])) <= 1.5  # recovery, not raw logits
    _section(at, "Activation patching", ci_patch="Heads: q, k, v, pattern")
    k = heatmap_z(figure_titled(at, "Keys (per KV head)"))
    assert k.shape == (model.num_layers, model.num_kv_heads)


def test_attribution_patching_and_faithfulness(at):
    _section(at, "Attribution patching", ci_attr_site="Heads: output z")
    est, real = figure_titled(at, "Attribution patching"), figure_titled(at, "Real patching")
    assert heatmap_z(est).shape == heatmap_z(real).shape
    assert "Estimate vs real patching (r = " in figures(at)[2]["layout"]["title"]["text"]
    curve = figure_titled(at, "Faithfulness")
    y = np.array(curve["data"][0]["y"], dtype=float)
    assert abs(y[0]) < 1e-5  # k = 0: the corrupted run


def test_logit_attribution_parts_add_up(at, model):
    _section(at, "Logit attribution", ci_dla_head="L1H2")
    res = attribution.logit_attribution(model, PAIR["ci_clean"], PAIR["ci_answer"], PAIR["ci_wrong"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Logit difference (model)"] == f"{res.logit_diff:.3f}"
    assert metrics["Σ parts"] == f"{float(res.parts.sum()):.3f}"
    assert "L1H2's direct contribution" in metrics  # the picked head's detail
    bars = figure_titled(at, "Direct contribution of each part")
    assert len(bars["data"][0]["x"]) == 2 * model.num_layers + 2  # embed, attn/mlp per layer, remainder
    assert figure_titled(at, "Attention pattern of L1H2") and figure_titled(at, "Tokens L1H2")


def test_information_flow_and_circuits(at):
    _section(at, "Information flow", ci_flow_th=0.05)
    assert figure_titled(at, "Information flow to the prediction")
    assert any("edges at ≥ 0.05" in c.value for c in at.caption)
    _section(at, "QK / OV circuits", ci_c_layer=1, ci_c_head=3, ci_c_mode="K (keys)")
    assert figure_titled(at, "L1H3: singular values") and figure_titled(at, "K-composition of every earlier head")
    assert len(at.dataframe) >= 2  # the OV and QK token tables
    _section(at, "QK / OV circuits", ci_c_all=True)
    assert figure_titled(at, "Strongest K-composition between layers")


def test_a_link_reopens_the_view(tiny_lm):
    query = {**PAIR, "ci_view": "Logit attribution", "ci_dla_head": "L1H3"}
    at = app_test(PAGE, timeout=300, query=query, state={"custom_models_lm": [tiny_lm], "model_lm": tiny_lm})
    _ok(at)
    assert at.radio(key="ci_view").value == "Logit attribution"
    assert figure_titled(at, "Attention pattern of L1H3")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ci_corrupt": "The dog sat on the mat"}, "tokens and the corrupted one"),
        ({"ci_answer": " tired"}, "is 3 tokens for this model"),
        ({"ci_corrupt": "The cat sat on the"}, "identical"),
        ({"ci_wrong": " mat"}, "same token"),
        ({"ci_clean": "   "}, "empty"),
    ],
)
def test_bad_pairs_get_a_message(tiny_lm, change, message):
    at = app_test(PAGE, timeout=300, query={**PAIR, **change},
                  state={"custom_models_lm": [tiny_lm], "model_lm": tiny_lm})  # fmt: skip
    _ok(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


@pytest.mark.slow
def test_smollm2_ioi_preset(smollm2_dir):
    torch.set_num_threads(1)
    at = app_test(PAGE, timeout=600)
    _ok(at)
    z = heatmap_z(figure_titled(at, "Head output z"))  # the default view: IOI, heads' z, normalised
    assert z.shape == (30, 9)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Clean run"]) > 3 > -3 > float(metrics["Corrupted run"])  # Mary vs John flips
    assert z.max() > 0.3 and abs(float(np.median(z))) < 0.05  # a few heads carry the name, most do nothing
