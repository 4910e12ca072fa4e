"""The LayerNorm page in a real headless Chromium on small settings from the URL: a training run, and a long run
stopped after a few steps (screenshots in tests/artifacts/layernorm_*.png)."""

import re

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = pytest.mark.browser


def test_layernorm_page_in_browser(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 2900})  # the whole page in view for the screenshots
    # small settings through the URL (widgets are bound to query parameters, so views can be shared)
    page.goto(
        f"{app_url}/layernorm?ln_d=64&ln_depths=6&ln_depths=12&ln_depths=24&ln_seeds=2&ln_train_depth=3&ln_steps=60"
    )
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
