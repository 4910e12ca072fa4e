"""The MAE page in a real headless Chromium: upload a photo, change the mask ratio, compare side by side
(screenshots in tests/artifacts/mae_page*.png)."""

import os

import pytest
from helpers import assert_no_exception, click_and_expect, image_file_input, shot, wait_idle

pytestmark = pytest.mark.browser


def test_mae_page_in_browser(app_url, page, tmp_path):
    from xviz.samples import sample_bytes

    path = os.path.join(tmp_path, "my_cat.jpg")
    with open(path, "wb") as fh:
        fh.write(sample_bytes("chelsea"))
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(app_url + "/mae")
    wait_idle(page)
    page.get_by_text("PSNR on hidden pixels").first.wait_for()
    click_and_expect(page, "Upload", image_file_input(page), state="attached")
    image_file_input(page).set_input_files(path)
    wait_idle(page)
    thumb = page.get_by_role("slider", name="Mask ratio")
    thumb.focus()
    page.keyboard.press("ArrowLeft")  # 0.75 → 0.70
    wait_idle(page)
    page.get_by_text("ratio 0.70 (19/64 visible)").first.wait_for()
    assert_no_exception(page)
    page.wait_for_timeout(1500)  # let plotly draw
    shot(page, "mae_page")
    click_and_expect(page, "Side by side", "A (ratio 0.70)")
    assert_no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 1750})  # room for both rows of the figure
    page.wait_for_timeout(1500)
    shot(page, "mae_page_compare")
