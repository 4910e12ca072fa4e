"""The Masking page in a real headless Chromium: sections switched by clicks and opened from a shared link
(screenshots in tests/artifacts/masking_*.png)."""

import pytest
from helpers import assert_no_exception, click_and_expect, shot, wait_idle

pytestmark = pytest.mark.browser


def test_masking_page_in_browser(app_url, page):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{app_url}/masking")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("largest probability on a masked entry").first.wait_for()
    shot(page, "masking_padding")
    click_and_expect(page, "Side by side", "Mask B")
    assert_no_exception(page)
    shot(page, "masking_side_by_side")
    click_and_expect(page, "MAE patch mask", "patches hidden")
    assert page.url.endswith("mk_view=MAE+patch+mask")
    assert_no_exception(page)
    shot(page, "masking_mae")
    # a shared link opens the same section
    page.goto(f"{app_url}/masking?mk_view=MLM+%2880%2F10%2F10%29")
    wait_idle(page)
    page.get_by_text("word pieces selected").first.wait_for()
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()
    page.wait_for_timeout(1000)  # let the table draw
    assert_no_exception(page)
    shot(page, "masking_mlm")
