"""The Circuits page on SmolLM2-135M in a real headless Chromium: every section renders without an exception
(screenshots in tests/artifacts/), the view goes into the URL, and a click on a head of the logit-attribution grid
opens that head's pattern and tokens."""

import re
import urllib.parse

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SECTIONS = ["Activation patching", "Attribution patching", "Logit attribution", "Information flow", "QK / OV circuits"]


def _open(page, url: str) -> None:
    page.goto(url)
    wait_idle(page, timeout=600_000)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=600_000)
    wait_idle(page, timeout=600_000)


def test_sections_render_and_screenshots(page, app_url, smollm2_dir):
    _open(page, app_url + "/circuits")
    assert page.get_by_text(re.compile(r"Patched z: 270 cells")).count() >= 1  # the IOI head grid, with its timing
    assert_no_exception(page)
    shot(page, "circuits_patching")
    for name in SECTIONS[1:]:
        page.get_by_text(name, exact=True).first.click()
        wait_idle(page, timeout=600_000)
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=600_000)
        wait_idle(page, timeout=600_000)
        assert_no_exception(page)
        shot(page, "circuits_" + re.sub(r"\W+", "_", name.lower()).strip("_"))
    assert "ci_view=QK" in urllib.parse.unquote_plus(page.url)  # the view is in the URL


_POINT = """([layer, head]) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(g => (g.layout.title.text || '').includes('Per head'));
  gd.scrollIntoView({block: 'center'});
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(head), box.top + ya._offset + ya.l2p(layer)];
}"""


def test_click_a_head_opens_it(page, app_url, smollm2_dir):
    _open(page, app_url + "/circuits?" + urllib.parse.urlencode({"ci_view": "Logit attribution"}))
    assert page.get_by_text("Attention pattern of L23H3").count() >= 1  # the largest |DLA| head by default
    x, y = page.evaluate(_POINT, [29, 1])  # the square of layer 29, head 1, scrolled into the window
    page.wait_for_timeout(500)
    page.mouse.click(x, y)
    page.get_by_text("Attention pattern of L29H1").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    assert "ci_dla_head=L29H1" in page.url
    shot(page, "circuits_dla_clicked")
