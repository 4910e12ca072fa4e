"""One tour through the whole app in a real headless Chromium: every page of app.py's PAGES, in order, with its
main controls, a compare mode, a .txt and an image upload; no exception box anywhere; one screenshot per page.

XVIZ_UPDATE_SCREENSHOTS=1 also copies the screenshots (cropped to the top, size-capped) to docs/screenshots/
for the README."""

import os
import re
import time

import pytest
from helpers import ROOT, assert_no_exception, click_and_expect, image_file_input, shot, wait_idle

pytestmark = pytest.mark.browser

DOCS = os.path.join(ROOT, "docs", "screenshots")
MAX_HEIGHT = 1600  # README screenshots: the top of the page
MAX_BYTES = 400_000
TEXT_A = "A robot read the whole book in one night."
TEXT_B = "A student read the whole book in one night."  # same token count: the A − B map is drawn


def _pages_in_app() -> list[str]:
    with open(os.path.join(ROOT, "app.py")) as fh:
        return re.findall(r'st\.Page\("views/(\w+)\.py"', fh.read())


def _nav(page, title: str) -> None:
    """Open a page through the sidebar (same browser session, as a user would)."""
    wait_idle(page)
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first.click()
    wait_idle(page)


def _see(page, text: str, timeout: float = 90_000) -> None:
    page.get_by_text(text).first.wait_for(timeout=timeout)


def _click(page, label: str, expect: str, role: str | None = None) -> None:
    """Click a radio option (or a tab: role="tab") once the app is idle and wait for its content."""
    click_and_expect(page, page.get_by_role(role, name=label, exact=True) if role else label, expect)


def _pick(page, label: str, option: str, scope=None) -> None:
    wait_idle(page)
    (scope or page).get_by_role("combobox", name=label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def _slide(page, label: str, key: str = "ArrowLeft") -> None:
    wait_idle(page)
    thumb = page.get_by_role("slider", name=label).first
    thumb.focus()
    page.keyboard.press(key)
    wait_idle(page)


def _figure_drawn(page, title: str) -> None:
    """The plotly chart titled `title` is on the page and has drawn something (traces or an image)."""
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=title).first
    chart.wait_for()
    chart.locator("g.imagelayer image, g.heatmaplayer image, g.trace").first.wait_for(state="attached")


def _shot(page, name: str, shots: dict) -> None:
    assert_no_exception(page)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
    page.mouse.move(700, 4)  # hover nothing: no toolbar over a figure, no sidebar button
    page.wait_for_timeout(800)  # let plotly finish drawing
    shots[name] = shot(page, f"tour_{name}")


def _home(page, app_url, tmp_path, shots):
    page.goto(app_url)
    wait_idle(page)
    _see(page, "Models available offline")
    info = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert "CPU" in info or "GPU" in info  # the device in use
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()  # the offline models table
    page.locator('[data-testid="stCode"]').first.wait_for()
    _shot(page, "home", shots)


def _attention(page, app_url, tmp_path, shots):
    _nav(page, "Attention")
    _see(page, "all layers × heads")
    txt = tmp_path / "story.txt"
    txt.write_text(TEXT_A + "\n", encoding="utf-8")
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="or upload .txt")
    uploader.locator("input[type=file]").set_input_files(str(txt))
    wait_idle(page)
    box = page.get_by_role("textbox", name="Text", exact=True)
    page.wait_for_function(
        "t => [...document.querySelectorAll('textarea')].some(e => e.value.trim() === t)", arg=TEXT_A
    )
    assert box.input_value().strip() == TEXT_A
    _click(page, "Two sentences", "A: all layers × heads")
    box_b = page.get_by_role("textbox", name="Text B", exact=True)
    box_b.fill(TEXT_B)
    box_b.press("Control+Enter")
    wait_idle(page)
    _click(page, "Head", "A − B (probabilities)", role="tab")
    _pick(page, "Head", "3")
    _see(page, "Probabilities — A: layer 0, head 3")
    _see(page, "Probabilities — B: layer 0, head 3")
    _figure_drawn(page, "A − B (probabilities)")
    assert "attn_head=3" in page.url
    _shot(page, "attention", shots)
    # back to one sentence for the image tour (the compare radio is bound to the URL)
    _click(page, "Off", "Probabilities — layer 0, head 3")


def _attention_image(page, app_url, tmp_path, shots):
    from xviz.samples import load_sample

    path = tmp_path / "my_photo.png"
    load_sample("coffee").save(path)
    _click(page, "Image", "CLS → patches, layer 11")
    click_and_expect(page, "Upload", image_file_input(page), state="attached")
    image_file_input(page).set_input_files(str(path))
    wait_idle(page)
    _see(page, "my_photo.png")
    _pick(page, "Layer", "9")
    title = "CLS → patches, layer 9, mean of heads"
    _see(page, title)
    _figure_drawn(page, title)
    assert (
        page.locator('[data-testid="stPlotlyChart"]').filter(has_text=title).locator("g.imagelayer image").count() >= 1
    )  # the overlay is one server-rendered image
    _shot(page, "attention_image", shots)


def _positional(page, app_url, tmp_path, shots):
    _nav(page, "Positional encoding")
    _see(page, "Sinusoidal encoding, 50 × 128")
    _click(page, "cosine", "cosine similarity of positions")
    _figure_drawn(page, "Sinusoidal encoding, 50 × 128")
    _shot(page, "positional", shots)


def _masking(page, app_url, tmp_path, shots):
    _nav(page, "Masking")
    _see(page, "largest probability on a masked entry")
    _click(page, "Side by side", "Mask B")
    _pick(page, "Mask B", "Sliding window")
    _see(page, "Sliding window: layer 0, head 0")
    _figure_drawn(page, "causal: layer 0, head 0")
    _shot(page, "masking", shots)


def _swin(page, app_url, tmp_path, shots):
    _nav(page, "Swin windows")
    _see(page, "W-MSA: regular windows")
    _click(page, "Cyclic shift", "64 windows, 15 of them masked")
    _slide(page, "Shift s")  # s = 3 → 2
    _see(page, "(effective M = 7, s = 2)")
    _figure_drawn(page, "4 · masked windows")
    _shot(page, "swin", shots)


def _mae(page, app_url, tmp_path, shots):
    _nav(page, "MAE")
    _see(page, "PSNR on hidden pixels")
    _slide(page, "Mask ratio")  # 0.75 → 0.70
    _see(page, "ratio 0.70 (19/64 visible)")
    _figure_drawn(page, "reconstruction + visible")
    _shot(page, "mae", shots)


def _variants(page, app_url, tmp_path, shots):
    _nav(page, "Attention variants")
    _see(page, "density")
    _pick(page, "Variant B", "Linformer")
    _see(page, "Sliding window − Linformer")
    _figure_drawn(page, "Sliding window − Linformer")
    _shot(page, "variants", shots)


def _layernorm(page, app_url, tmp_path, shots):
    # a shared link with small settings (the widgets are bound to the URL)
    page.goto(f"{app_url}/layernorm?ln_d=64&ln_depths=4&ln_depths=8&ln_seeds=1&ln_train_depth=2&ln_steps=30")
    wait_idle(page)
    _see(page, "Reading it (L = 8)")
    _pick(page, "Depth shown per layer", "4")
    _see(page, "Reading it (L = 4)")
    main = page.get_by_test_id("stMainBlockContainer")
    main.get_by_role("button", name="Train", exact=True).click()
    _see(page, "Run finished after 30 / 30 steps", timeout=120_000)
    wait_idle(page)
    _figure_drawn(page, "Training")
    _shot(page, "layernorm", shots)


def _language_model(page, app_url, tmp_path, shots):
    _nav(page, "Language model")
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=180_000)  # first use may fetch SmolLM2
    assert page.locator('[data-testid="stPlotlyChart"] text', has_text="␣Paris").count() >= 1
    _click(page, "Logit lens", "the top token at", role="tab")
    page.wait_for_selector('[data-testid="stPlotlyChart"]')
    _shot(page, "language_model", shots)


def _encdec(page, app_url, tmp_path, shots):
    _nav(page, "Encoder–decoder")
    _see(page, "Cross-attention, decoder layer")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    _shot(page, "encdec", shots)


def _stepwise(page, app_url, tmp_path, shots):
    _nav(page, "Self-attention, step by step")
    _see(page, "steps are compared with the tensors")
    page.locator(".js-plotly-plot").first.wait_for()
    _shot(page, "stepwise", shots)


def _mixers(page, app_url, tmp_path, shots):
    _nav(page, "Token mixers")
    _see(page, "How each model mixes tokens")
    _see(page, "Translation: the inductive-bias question")
    page.locator(".js-plotly-plot").nth(3).wait_for()
    _shot(page, "mixers", shots)


def _clip(page, app_url, tmp_path, shots):
    _nav(page, "CLIP")
    _see(page, "Answer:")  # opens on clip-shapes: zero-shot on a held-out shapes scene with the world's labels
    _see(page, "Held-out shapes scene 0")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    _click(page, "Contrastive matrix", "softmax per row")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    _shot(page, "clip", shots)


def _circuits(page, app_url, tmp_path, shots):
    _nav(page, "Circuits")
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=600_000)  # the IOI patching grids
    _see(page, "Patched z")
    _click(page, "Logit attribution", "Attention pattern of")
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    _shot(page, "circuits", shots)


TOUR = {
    "home": _home,
    "attention": _attention,
    "positional": _positional,
    "masking": _masking,
    "swin": _swin,
    "mae": _mae,
    "variants": _variants,
    "layernorm": _layernorm,
    "language_model": _language_model,
    "encdec": _encdec,
    "stepwise": _stepwise,
    "mixers": _mixers,
    "clip": _clip,
    "circuits": _circuits,
}
EXTRA = {"attention": [("attention_image", _attention_image)]}  # the Attention page's image mode


def test_tour_whole_app(page, app_url, tmp_path):
    assert list(TOUR) == _pages_in_app(), "the tour must visit every page of app.py, in PAGES order"
    shots, times = {}, {}
    for name in _pages_in_app():
        for step, fn in [(name, TOUR[name])] + EXTRA.get(name, []):
            t0 = time.perf_counter()
            try:
                fn(page, app_url, tmp_path, shots)
            except Exception:
                shot(page, f"tour_failed_{step}")  # what the page showed when the step failed
                raise
            times[step] = time.perf_counter() - t0
    print("tour timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    assert set(shots) == set(TOUR) | {"attention_image"}
    if os.environ.get("XVIZ_UPDATE_SCREENSHOTS") == "1":
        update_docs_screenshots(shots)


def update_docs_screenshots(shots: dict[str, str]) -> None:
    """Copy the tour's screenshots to docs/screenshots/<page>.png: the top MAX_HEIGHT px, ≤ MAX_BYTES."""
    from PIL import Image

    os.makedirs(DOCS, exist_ok=True)
    for name, src in shots.items():
        img = Image.open(src).convert("RGB")
        img = img.crop((0, 0, img.width, min(img.height, MAX_HEIGHT)))
        dst = os.path.join(DOCS, f"{name}.png")
        img.save(dst, optimize=True)
        if os.path.getsize(dst) > MAX_BYTES:  # photos: 256 colours keep the UI sharp and the file small
            img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)
        assert os.path.getsize(dst) <= MAX_BYTES, f"{dst} is {os.path.getsize(dst)} bytes"
