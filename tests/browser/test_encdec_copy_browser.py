"""The Encoder–decoder page's copy-mechanism and guided-attention sections in a real headless Chromium: a URL opens
them, a change shows, a bad input gives a message; screenshots in tests/artifacts/encdec_copy.png, encdec_guided.png."""

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = pytest.mark.browser


def test_copy_section_from_url_and_bad_input(page, app_url):
    page.goto(app_url + "/encdec?ed_view=Copy+mechanism&cp_src=please+call+quixzot+at+8675309")
    wait_idle(page)
    page.get_by_text("copy-pointer: copy map").first.wait_for()
    page.get_by_text("Step 1: copy-pointer writes").first.wait_for()
    assert_no_exception(page)
    page.wait_for_timeout(1500)  # let plotly draw
    shot(page, "encdec_copy")
    box = page.get_by_role("textbox", name="Request", exact=True)
    box.fill("call zübeko at 4417")
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("a–z and 0–9 only").first.wait_for()
    assert_no_exception(page)


def test_guided_section_from_url_and_bad_input(page, app_url):
    page.goto(app_url + "/encdec?ed_view=Guided+attention&gd_src=1234567890123456")
    wait_idle(page)
    page.get_by_text("Diagonality during training").first.wait_for()
    page.get_by_text("16 digits: longer than any number seen in training").first.wait_for()
    assert "gd_src=1234567890123456" in page.url
    assert_no_exception(page)
    page.wait_for_timeout(1500)
    shot(page, "encdec_guided")
    box = page.get_by_role("textbox", name="Number", exact=True)
    box.fill("12a4")
    box.press("Enter")
    wait_idle(page)
    page.get_by_text("digits 0–9 only").first.wait_for()
    assert_no_exception(page)
