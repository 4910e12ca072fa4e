"""Pages on a 4k-token input (a random-init Llama with 4096 positions, added as a custom model): the Attention page
keeps attention on demand and every tab reads only what it shows — the overview from pooled maps, the head map
pooled then zoomed down to labelled cells, streamed statistics, the collapse check —; the Language-model page
takes the whole prompt (no 512 cap), and step by step runs at 1k tokens."""

import pytest
import torch
from helpers import app_test, figure_titled, figures, heatmap_z, save_tiny_llama

torch.set_num_threads(1)
LONG_TEXT = "the cat sat on the mat and the dog ran after it " * 420  # 9242 tokens of the tiny BPE: cut to 4096


@pytest.fixture(scope="module")
def long_llama(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama4k")
    return str(save_tiny_llama(folder, layers=2, heads=4, hidden=64, positions=4096))


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _attention_app(model: str, tab: str):
    state = {"custom_models_lm": [model], "model_text": model, "attn_text": LONG_TEXT, "attn_tab": tab}
    at = app_test("views/attention.py", timeout=300, state=state)
    _ok(at)
    return at


def test_attention_page_at_4k_tokens_reads_only_what_it_shows(long_llama):
    at = _attention_app(long_llama, "Head")
    note = next(c.value for c in at.caption if "computed on demand" in c.value)
    n = int(note.split(" tokens")[0])
    assert n >= 3500  # the whole text, no 512 cap
    fig = figure_titled(at, "Probabilities — layer 0, head 0 (cells of")  # 512-cell image of a ~4k map
    assert "image" in fig["data"][0]["type"]
    at.slider(key="attn_rows").set_value((100, 140)).run()
    at.slider(key="attn_cols").set_value((90, 140)).run()
    _ok(at)
    fig = figure_titled(at, "Probabilities — layer 0, head 0")  # zoomed: exact, labelled cells
    assert fig["data"][0]["type"] == "heatmap" and len(fig["layout"]["yaxis"]["ticktext"]) == 40
    assert fig["layout"]["yaxis"]["ticktext"][0].startswith("100:")
    z = heatmap_z(fig)  # (40, 50): queries 100…139 × keys 90…139
    assert z.shape == (40, 50) and (z[0, 11:] == 0).all()  # causal: query 100 never sees keys 101…139
    assert 0 < z[-1].sum() <= 1.0 + 1e-5 and z.min() >= 0
    titles = {
        "Overview": "all layers × heads",
        "Statistics": "entropy",
        "Collapse": "cross-layer",
        "Neuron view": "layer 0",
    }
    for tab, title in titles.items():
        at.session_state["attn_tab"] = tab
        at.query_params["attn_tab"] = tab  # the tab is bound to the URL, which the first run filled with "Head"
        at.run()
        _ok(at)
        assert figure_titled(at, title, match="contains"), tab


def test_lm_page_and_step_by_step_take_long_prompts(long_llama):
    state = {"custom_models_lm": [long_llama], "model_lm": long_llama, "lm_tab": "Logit lens", "lm_prompt": LONG_TEXT}
    at = app_test("views/language_model.py", timeout=300, state=state)
    _ok(at)
    assert any("only its first 4,096 are used" in w.value for w in at.warning)  # the model's positions, not 512
    assert figures(at)
    at.session_state["lm_tab"] = at.query_params["lm_tab"] = "Head scores"
    at.session_state["lm_hs_src"] = at.query_params["lm_hs_src"] = "This prompt"  # the 4096-token prompt itself
    at.run()
    _ok(at)
    assert heatmap_z(figure_titled(at, "induction")).shape == (2, 4)  # streamed from q/k: (L, H)
    words = " ".join(LONG_TEXT.split()[:600])
    state = {"custom_models_lm": [long_llama], "model_lm": long_llama, "sw_text": words}
    state["sw_kind"] = "Decoder (Llama: SmolLM2)"
    at = app_test("views/stepwise.py", timeout=300, state=state)
    _ok(at)
    assert not at.warning and any("largest difference" in s.value for s in at.success)  # 600+ tokens, all checked
