"""The Swin windows page in a real headless Chromium: an upload and a shift change (screenshot in
tests/artifacts/swin_page.png)."""

import os

import pytest
from helpers import assert_no_exception, click_and_expect, image_file_input, shot, wait_idle

pytestmark = pytest.mark.browser


def test_swin_page_in_browser(app_url, page, tmp_path):
    from xviz.samples import load_sample

    path = os.path.join(tmp_path, "coffee.png")
    load_sample("coffee").save(path)
    page.goto(app_url + "/swin?swin_view=Cyclic+shift")
    wait_idle(page)
    click_and_expect(page, "Upload", image_file_input(page), state="attached")
    image_file_input(page).set_input_files(path)
    wait_idle(page)
    page.get_by_text("64 windows, 15 of them masked").wait_for()
    thumb = page.get_by_role("slider", name="Shift s")
    thumb.focus()
    page.keyboard.press("ArrowLeft")  # s = 3 → 2
    wait_idle(page)
    page.get_by_text("(effective M = 7, s = 2)").wait_for()
    assert_no_exception(page)
    page.wait_for_timeout(1500)  # let plotly draw before the screenshot
    shot(page, "swin_page")
