"""Real browser (Debian chromium via Playwright): the step-by-step page and the Token mixers page load, step and
show their figures without an exception. Screenshots: tests/artifacts/stepwise_*.png, mixers_*.png."""

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = pytest.mark.browser


def test_stepwise_page_in_browser(app_url, page):
    page.goto(f"{app_url}/stepwise?sw_step=softmax&sw_layer=2&sw_head=3")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Step 14 of 23 · Softmax over keys").wait_for()
    page.locator(".js-plotly-plot").nth(2).wait_for()  # the step, the variance and the saturation figures
    shot(page, "stepwise_softmax")
    page.get_by_role("button", name="Next ▶").click()
    wait_idle(page)
    page.get_by_text("Step 15 of 23 · Weighted values A·V").wait_for()
    assert_no_exception(page)
    assert "sw_step=av" in page.url
    page.get_by_label("Sentence").fill("")
    page.get_by_label("Sentence").press("Control+Enter")
    wait_idle(page)
    page.get_by_text("The text is empty").wait_for()
    assert_no_exception(page)
    shot(page, "stepwise_empty")


def test_decoder_steps_in_browser(app_url, page):
    from xviz.pretrained.fetch import SMOLLM2, is_fetched

    if not is_fetched(SMOLLM2.name):
        pytest.skip("smollm2-135m is not fetched on this machine")
    page.goto(f"{app_url}/stepwise?sw_kind=Decoder+%28Llama%3A+SmolLM2%29&sw_step=rope_q&sw_head=4")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("RoPE rotates q of head 4").first.wait_for()
    page.locator(".js-plotly-plot").nth(2).wait_for()
    shot(page, "stepwise_decoder_rope")


def test_mixers_page_in_browser(app_url, page):
    page.goto(f"{app_url}/mixers?mx_idx=7&mx_dx=2")
    wait_idle(page, timeout=180_000)
    assert_no_exception(page)
    page.get_by_text("How each model mixes tokens").wait_for()
    page.get_by_text("Translation: the inductive-bias question").wait_for()
    page.locator(".js-plotly-plot").nth(6).wait_for()  # digit, probabilities, 4 mixing figures, shifts
    shot(page, "mixers_page")
