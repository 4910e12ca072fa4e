"""The Attention-variants page in a real headless Chromium: the gallery, a measurement, the comparison
(screenshots in tests/artifacts/variants*.png)."""

import re

import pytest
from helpers import assert_no_exception, click_and_expect, shot, wait_idle

pytestmark = pytest.mark.browser


def test_variants_page_in_browser(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 3000})  # the app scrolls inside: a tall window shows it all
    page.goto(f"{app_url}/variants")
    wait_idle(page)
    page.get_by_text("Attention variants").first.wait_for()
    page.get_by_text("density", exact=False).first.wait_for()
    assert_no_exception(page)
    click_and_expect(page, page.get_by_role("tab", name="Gallery of all"), "cost vs error")
    shot(page, "variants_gallery")
    measure = page.get_by_role("button", name="Measure")
    click_and_expect(page, page.get_by_role("tab", name="Measured cost"), measure)
    click_and_expect(page, measure, re.compile(r"Measured \d+ points"), timeout=180_000)
    page.get_by_text("extra peak memory (MiB)").first.wait_for()
    assert_no_exception(page)
    shot(page, "variants_measure")
    page.get_by_role("tab", name="Compare two").click()
    page.wait_for_timeout(800)
    shot(page, "variants")
