"""LayerNorm page (AppTest) on small settings: what is shown, a training run, empty input. The real-browser run is
tests/browser/test_layernorm_browser.py."""

import re

import pytest
from helpers import app_test

PAGE = "views/layernorm.py"


@pytest.fixture(scope="module")
def at():
    """The whole app on the LayerNorm page, with small sweep settings put in place before the page first runs."""
    return app_test(PAGE, state={"ln_d": 64, "ln_depths": [6, 12], "ln_seeds": 2})


def test_sweep_table_figures_and_explanation(at):
    assert not at.exception
    assert "pre-LN vs post-LN" in at.title[0].value
    text = " ".join(m.value for m in at.markdown)
    assert "https://arxiv.org/abs/2002.04745" in text and "Theorem 1" in text
    table = at.dataframe[0].value
    assert list(table["depth L"]) == [6, 12]
    ratio = list(table["post / pre"])
    assert ratio[0] > 1.5 and ratio[1] > ratio[0]  # the paper's signal, shown to the user
    m = re.search(r"last / first layer = ([\d.]+), against ([\d.]+)", text)
    assert m and float(m.group(1)) > 1 > float(m.group(2))
    assert len(at.get("plotly_chart")) == 2
    assert any("Press **Train**" in i.value for i in at.info)


def test_train_run_shows_curves(at):
    at.number_input(key="ln_steps").set_value(20)
    at.slider(key="ln_train_depth").set_value(2)
    at.button(key="ln_train").click().run()
    assert not at.exception
    msg = " ".join(s.value for s in at.success)
    assert "finished after 20 / 20 steps" in msg and "L = 2" in msg
    assert "Pre-LN: loss" in msg and "Post-LN: loss" in msg
    live = at.session_state["ln_live"]
    assert {p: len(h) for p, h in live["history"].items()} == {"pre": 20, "post": 20}
    assert live["history"]["pre"][-1].loss < live["history"]["pre"][0].loss
    assert len(at.get("plotly_chart")) == 4
    at.button(key="ln_stop_button").click().run()  # Stop with nothing running keeps the finished run
    assert not at.exception and "finished after 20 / 20" in " ".join(s.value for s in at.success)


def test_no_depth_picked_gives_message(at):
    at.multiselect(key="ln_depths").set_value([]).run()
    assert not at.exception
    assert any("Pick at least one depth" in i.value for i in at.info)
