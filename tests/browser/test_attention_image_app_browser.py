"""The Attention page (image mode) in a real headless Chromium: upload a photo, click a patch."""

import pytest
from helpers import assert_no_exception, click_and_expect, image_file_input, shot, wait_idle

from xviz.samples import load_sample

pytestmark = pytest.mark.browser


def test_upload_image_and_click_a_patch(page, app_url, tmp_path):
    path = tmp_path / "my_cat.png"
    load_sample("chelsea").save(path)
    page.goto(app_url + "/attention")
    wait_idle(page)
    click_and_expect(page, "Image", "CLS → patches, layer 11", timeout=120_000)  # the sample's map first
    click_and_expect(page, "Upload", image_file_input(page), state="attached")
    image_file_input(page).set_input_files(str(path))
    wait_idle(page)
    page.wait_for_selector("text=my_cat.png", timeout=60_000)
    page.wait_for_selector("text=CLS → patches, layer 11", timeout=120_000)
    assert page.get_by_text("fine-tuned for saliency").count() >= 1
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    drag = chart.locator(".nsewdrag").first
    box = drag.bounding_box()
    # The image is centred in the plot area with equal aspect: click left of centre, a third of the way down.
    x, y = box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.33
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    wait_idle(page)
    page.wait_for_selector("text=/patch \\(\\d+, \\d+\\) → patches/", timeout=60_000)
    row = page.get_by_label("Patch row").input_value()
    col = page.get_by_label("Patch column").input_value()
    assert 0 <= int(row) <= 15 and 0 <= int(col) <= 15
    assert page.get_by_text(f"patch ({row}, {col}) → patches").count() >= 1
    assert_no_exception(page)
    chart.scroll_into_view_if_needed()
    shot(page, "attention_image_click")
    for tab, marker, name in (
        ("Overview", "all layers × heads", "attention_image_overview"),
        ("Rollout", "rollout into the patch", "attention_image_rollout"),
        ("Statistics", "mean attention distance", "attention_image_stats"),
    ):
        page.get_by_role("tab", name=tab).click()
        wait_idle(page)
        page.wait_for_selector(f"text={marker}", timeout=90_000)
        assert_no_exception(page)
        # the app scrolls inside its own container: bring the figure's title to the top
        page.get_by_text(marker).first.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        shot(page, name)
