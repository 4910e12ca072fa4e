"""The Encoder–decoder page in a real headless Chromium: a URL opens a task and source, a change shows, a
bad input gives a message; screenshots in tests/artifacts/encdec_*.png."""

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = pytest.mark.browser


def test_encdec_page_from_url_and_bad_input(page, app_url):
    page.goto(app_url + "/encdec?ed_task=date&ed_src=March+3%2C+2021")
    wait_idle(page)
    page.get_by_text("Cross-attention, decoder layer 1, head mean").first.wait_for()
    page.get_by_text("2021-03-03").first.wait_for()
    assert_no_exception(page)
    page.wait_for_timeout(1500)  # let plotly draw
    shot(page, "encdec_cross")
    page.get_by_text("Decoding step by step", exact=True).click()
    wait_idle(page)
    page.get_by_text("beam", exact=True).click()
    wait_idle(page)
    page.get_by_text("Beam search tree (3 beams)").first.wait_for()
    assert "ed_strategy=beam" in page.url and "ed_view=" in page.url
    assert_no_exception(page)
    page.wait_for_timeout(1500)
    shot(page, "encdec_beam")
    box = page.get_by_role("textbox", name="Source", exact=True)
    box.fill("héllo")
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("outside the model's vocabulary").first.wait_for()
    assert_no_exception(page)
