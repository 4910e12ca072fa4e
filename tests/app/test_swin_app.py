"""Swin windows page (AppTest): what every section shows, and a user's HF Swin checkpoint. The real-browser run is
tests/browser/test_swin_browser.py."""

from helpers import app_test, figure_specs, hf_swin

PAGE = "views/swin.py"


def _section(at, name):
    at.radio(key="swin_view").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning])


def test_sections_show_the_reference_numbers():
    at = app_test(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Swin windows"
    assert "56 × 56 tokens (64 windows of 7×7)" in _text(at)
    assert len(at.get("plotly_chart")) == 2  # W-MSA and SW-MSA grids side by side
    _section(at, "Cyclic shift")
    assert "64 windows, 15 of them masked" in _text(at)  # Swin-T's first stage: 56×56, M = 7, s = 3
    _section(at, "SW-MSA mask")
    assert at.slider(key="swin_win").value == 63
    assert "1776 of 2401 pairs forbidden" in figure_specs(at)[0]
    at.slider(key="swin_win").set_value(7).run()  # last window of the first row: 2 regions
    assert "1176 of 2401 pairs forbidden" in figure_specs(at)[0]
    at.slider(key="swin_shift").set_value(0).run()  # no shift: nothing masked
    assert not at.exception and "0 of 2401 pairs forbidden" in figure_specs(at)[0]


def test_shift_clamped_when_window_shrinks_and_other_sections():
    at = app_test(PAGE)
    at.slider(key="swin_shift").set_value(6).run()
    at.slider(key="swin_M").set_value(4).run()  # shift 6 no longer fits: back to ⌊M/2⌋
    assert not at.exception and at.slider(key="swin_shift").value == 2
    _section(at, "Receptive field")
    assert "tokens reach" in figure_specs(at)[0]
    _section(at, "Cost")
    assert "global attention costs" in _text(at)
    _section(at, "Two window sizes")
    assert len(at.get("plotly_chart")) == 4


def test_model_sections_label_untrained_swin_tiny():
    at = app_test(PAGE)
    _section(at, "Relative position")
    assert "UNTRAINED" in _text(at)
    assert len(at.get("plotly_chart")) == 3
    _section(at, "Real attention")
    assert "UNTRAINED" in _text(at)
    specs = figure_specs(at)
    assert any("block 0 (W-MSA" in s for s in specs) and any("block 1 (SW-MSA, shift 3)" in s for s in specs)
    assert at.slider(key="swin_att_win").value == 63 and at.slider(key="swin_att_win").max == 63


def test_user_hf_checkpoint_in_real_attention(tmp_path):
    """A user's HF Swin folder loaded from the sidebar replaces swin-tiny: no untrained label, its own windows."""
    hf_swin(seed=7).save_pretrained(tmp_path)
    at = app_test(PAGE)
    at.text_input(key="custom_model_path").input(str(tmp_path)).run()
    at.button(key="custom_model_load").click().run()
    assert not at.exception and at.session_state["model_swin"] == str(tmp_path)
    _section(at, "Real attention")
    assert "UNTRAINED" not in _text(at)
    specs = figure_specs(at)
    assert any("block 1 (SW-MSA, shift 2)" in s for s in specs)  # M = 4: shift ⌊4/2⌋
    assert at.slider(key="swin_att_win").max == 24  # 18×18 map padded to 20×20: 25 windows
    at.selectbox(key="swin_pair").select_index(2).run()  # stage 3: 5×5 padded to 8×8, 4 windows
    assert not at.exception and at.slider(key="swin_att_win").max == 3
