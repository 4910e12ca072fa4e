"""The CLIP page in a real headless Chromium: add a random-init CLIP folder through the sidebar's "Add a model",
classify a sample with typed labels (markup stays literal), then the contrastive matrix, where a caption looks and
both towers (screenshots in tests/artifacts/clip_*.png)."""

import pytest
from clip_fixtures import save_clip
from helpers import assert_no_exception, click_and_expect, shot, wait_idle

pytestmark = pytest.mark.browser


def _add_model(page, folder: str) -> None:
    page.get_by_text("Add a model").first.click()
    box = page.get_by_label("Folder or hf:<id>")
    box.fill(folder)
    box.press("Enter")
    wait_idle(page)
    click_and_expect(page, "Load", "as a clip model", state="attached")  # inside the (closing) expander


def test_clip_page_in_browser(app_url, page, tmp_path):
    folder = str(save_clip(tmp_path / "clip"))
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(app_url + "/clip")
    wait_idle(page)
    _add_model(page, folder)
    page.get_by_text("template ensemble").first.wait_for()
    labels = page.locator("textarea[aria-label='Labels (one per line)']")
    labels.fill("cat\ndog\n<b>bold</b> label\nred circle")
    labels.press("Control+Enter")
    wait_idle(page)
    page.get_by_text("<b>bold</b> label").first.wait_for(state="attached")  # shown as typed, never rendered
    assert page.locator("b", has_text="bold").count() == 0
    assert_no_exception(page)
    page.wait_for_timeout(1500)  # let plotly draw
    shot(page, "clip_zero_shot")
    for section, marker, name in (
        ("Contrastive matrix", "softmax per row", "clip_contrast"),
        ("Where a caption looks", "gradient × attention relevance", "clip_where"),
        ("Inside both towers", "rollout into CLS", "clip_towers"),
        ("Side by side", "labels B", "clip_compare"),
    ):
        click_and_expect(page, section, marker)
        assert_no_exception(page)
        page.wait_for_timeout(1500)
        shot(page, name)
    assert "clip_view=Side+by+side" in page.url or "clip_view=Side%20by%20side" in page.url
