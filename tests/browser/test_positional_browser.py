"""The Positional-encoding page in a real headless Chromium: sections switched by clicks, bound to the URL
(screenshots in tests/artifacts/positional_*.png)."""

import re

import pytest
from helpers import assert_no_exception, click_and_expect, shot, wait_idle

pytestmark = pytest.mark.browser


def test_positional_page_in_browser(app_url, page):
    page.set_viewport_size({"width": 1400, "height": 2400})  # tall: the screenshots show whole sections
    page.goto(f"{app_url}/positional")
    wait_idle(page)
    assert_no_exception(page)
    page.get_by_text("Sinusoidal encoding, 50 × 128").first.wait_for()
    shot(page, "positional_sinusoidal")
    click_and_expect(page, "RoPE & ALiBi", "max spread along one diagonal")
    assert "pe_view=RoPE" in page.url  # the section is in the shareable URL
    assert_no_exception(page)
    shot(page, "positional_rope_alibi")
    click_and_expect(page, "Learned tables", "embed.position.weight")
    # the image model's patch grid (or a note that there is none) ends the section
    done = re.compile("Similarity of one patch position|no learned patch-grid|No image model")
    page.get_by_text(done).first.wait_for()
    wait_idle(page)
    assert_no_exception(page)
    shot(page, "positional_learned")
