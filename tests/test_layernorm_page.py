"""LayerNorm page: AppTest on small settings (what is shown, a training run, empty input) and a real browser."""
import re

import pytest
from conftest import APP_PATH, assert_no_exception, shot, wait_idle

PAGE = "views/layernorm.py"


def _small_app():
    """The whole app on the LayerNorm page, with small sweep settings put in place before the page first runs."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP_PATH, default_timeout=180)
    at.run()
    at.session_state["ln_d"] = 64
    at.session_state["ln_depths"] = [6, 12]
    at.session_state["ln_seeds"] = 2
    at.switch_page(PAGE).run()
    return at


@pytest.fixture(scope="module")
def at():
    return _small_app()


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


@pytest.mark.browser
def test_layernorm_page_in_browser(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 2900})  # the whole page in view for the screenshots
    # small settings through the URL (widgets are bound to query parameters, so views can be shared)
    page.goto(f"{app_url}/layernorm?ln_d=64&ln_depths=6&ln_depths=12&ln_depths=24&ln_seeds=2"
              "&ln_train_depth=3&ln_steps=60")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Reading it (L = 24)").wait_for()
    shot(page, "layernorm_init")
    main = page.get_by_test_id("stMainBlockContainer")  # the header has Streamlit's own "Stop" too
    main.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Run finished after 60 / 60 steps").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    assert main.locator(".js-plotly-plot").count() == 4
    shot(page, "layernorm_trained")
    # a long run, stopped after a few steps: what was trained so far stays on the page
    steps = main.get_by_label("Steps", exact=True)
    steps.fill("600")
    steps.press("Enter")
    wait_idle(page)
    main.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"step \d+ / 600")).wait_for()
    page.wait_for_timeout(1500)
    main.get_by_role("button", name="Stop", exact=True).click()
    status = page.get_by_text(re.compile(r"Run stopped after \d+ / 600 steps"))
    status.wait_for()
    wait_idle(page)
    assert_no_exception(page)
    done = int(re.search(r"stopped after (\d+) / 600", status.inner_text()).group(1))
    assert 0 < done < 600
    shot(page, "layernorm_stopped")
