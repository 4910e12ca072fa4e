"""The Language-model page on SmolLM2-135M in a real headless Chromium: every tab renders without an exception
(screenshots in tests/artifacts/), and the first view of a 128-token prompt, warm, is timed."""

import time
import urllib.parse

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _prompt_of(n_tokens: int, smollm2_dir, start: str = "Once upon a time") -> str:
    """A prompt of exactly n_tokens SmolLM2 tokens (the tokenizer adds no BOS)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(smollm2_dir / "tokenizer.json"))
    words = [f" {w}" for w in ("river stone light house garden music paper window orange cloud " * 40).split()]
    text = start
    while len(tok.encode(text + words[0]).ids) <= n_tokens:
        text += words.pop(0)
    assert len(tok.encode(text).ids) == n_tokens
    return text


def _open(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url)
    wait_idle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
    return time.perf_counter() - t0


def test_tabs_render_and_screenshots(page, app_url, smollm2_dir):
    _open(page, app_url + "/lm")
    shot(page, "lm_next_token")
    assert page.locator('[data-testid="stPlotlyChart"] text', has_text="␣Paris").count() >= 1  # the top bar
    assert_no_exception(page)
    for tab, name in (
        ("Logit lens", "lm_logit_lens"),
        ("Generate", "lm_generate"),
        ("Head scores", "lm_head_scores"),
        ("Ablation", "lm_ablation"),
        ("Compare", "lm_compare"),
    ):
        page.get_by_role("tab", name=tab).click()
        wait_idle(page)
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=120_000)
        assert_no_exception(page)
        shot(page, name)
    assert "lm_tab=Compare" in page.url  # the view is in the URL


def test_beam_tree_from_a_link(page, app_url, smollm2_dir):
    q = urllib.parse.urlencode({"lm_tab": "Generate", "lm_gen_strategy": "Beam search", "lm_gen_max": 6})
    _open(page, f"{app_url}/lm?{q}")
    page.wait_for_selector("text=Beam tree", timeout=120_000)
    assert_no_exception(page)
    shot(page, "lm_beam")


def test_first_render_of_a_128_token_prompt_warm(page, app_url, smollm2_dir):
    _open(page, app_url + "/lm")  # warm: the model is loaded and the page's code imported
    prompt = _prompt_of(128, smollm2_dir)
    by_link = _open(page, f"{app_url}/lm?" + urllib.parse.urlencode({"lm_prompt": prompt}))
    assert page.get_by_text("128 tokens").count() >= 1
    box = page.get_by_role("textbox", name="Prompt", exact=True)
    box.fill(_prompt_of(128, smollm2_dir, "In the beginning"))
    chart = "() => document.querySelector('[data-testid=\"stPlotlyChart\"]')?.textContent || ''"
    before = page.evaluate(chart)
    t0 = time.perf_counter()
    box.press("Control+Enter")  # commits the text area: a new 128-token prompt in the open page
    page.wait_for_function(f"() => ({chart})() !== {before!r}", timeout=120_000)  # the bars were redrawn
    typed = time.perf_counter() - t0
    wait_idle(page)
    assert page.get_by_text("128 tokens").count() >= 1
    assert_no_exception(page)
    print(
        f"first render of a 128-token prompt, warm: {by_link:.2f} s opening a link (page load included), "
        f"{typed:.2f} s after typing it into the open page (target < 2 s)"
    )
    assert max(by_link, typed) < 10  # generous on 2 shared cores; the measured figures are reported
