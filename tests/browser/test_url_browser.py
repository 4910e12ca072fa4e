"""URL state in a real browser: changing a bound widget writes it into the address bar (AppTest cannot show this:
the browser writes it), and opening that address in a fresh tab reopens the same view."""

from urllib.parse import parse_qs, urlparse

import pytest
from helpers import assert_no_exception, click_and_expect, wait_idle
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _params(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def _thumb(page, label: str):
    """The number Streamlit draws on a slider's thumb."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    return slider.locator('[data-testid="stSliderThumbValue"]').first


def test_swin_controls_reach_the_url_and_a_new_tab_reopens_them(app_url, page, browser):
    page.goto(app_url + "/swin")
    wait_idle(page)
    click_and_expect(page, page.get_by_text("SW-MSA mask", exact=True), page.get_by_role("radio", name="SW-MSA mask"))
    page.wait_for_function("() => location.search.includes('swin_view=')", timeout=30_000)
    thumb = page.get_by_role("slider", name="Window size M")
    thumb.focus()
    page.keyboard.press("ArrowLeft")  # M = 7 → 6
    wait_idle(page)
    page.wait_for_function("() => location.search.includes('swin_M=')", timeout=30_000)
    params = _params(page.url)
    assert params.get("swin_view") == "SW-MSA mask" and params.get("swin_M") == "6", page.url
    assert_no_exception(page)

    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    try:
        other.goto(page.url)
        wait_idle(other)
        expect(other.get_by_role("radio", name="SW-MSA mask")).to_be_checked()
        expect(_thumb(other, "Window size M")).to_have_text("6")
        assert_no_exception(other)
    finally:
        other.context.close()


def test_typed_text_reaches_the_url(app_url, page):
    page.goto(app_url + "/attention")
    wait_idle(page)
    box = page.get_by_role("textbox", name="Text", exact=True)
    box.fill("The quick brown fox jumps.")
    box.press("Control+Enter")  # a text area applies its value on Ctrl+Enter (or on blur)
    wait_idle(page)
    page.wait_for_function("() => location.search.includes('attn_text=')", timeout=30_000)
    assert _params(page.url)["attn_text"] == "The quick brown fox jumps."
    page.goto(page.url)
    wait_idle(page)
    expect(page.get_by_role("textbox", name="Text", exact=True)).to_have_value("The quick brown fox jumps.")
    assert_no_exception(page)
