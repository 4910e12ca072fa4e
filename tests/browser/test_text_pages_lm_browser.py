"""SmolLM2 on the text pages in a real headless Chromium: Attention (causal head, 30 × 9 overview, sink statistic,
two models), Attention variants (a decoder head, causal) and Masking (left vs right padding). The model is chosen
through the URL (?model_text=…, the sidebar's bound picker), so each link reopens the same view."""

import pytest
from helpers import assert_no_exception, shot, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LM = "model_text=smollm2-135m"


@pytest.fixture(scope="module", autouse=True)
def _fetched():
    from xviz.pretrained.fetch import is_fetched

    if not is_fetched("smollm2-135m"):
        pytest.skip("smollm2-135m is not fetched (python -m xviz fetch smollm2-135m)")


def _open(page, url: str, marker: str) -> None:
    page.goto(url)
    wait_idle(page, timeout=180_000)
    page.get_by_text(marker).first.wait_for(timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)


def _tab(page, name: str, marker: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.get_by_text(marker).first.wait_for(timeout=90_000)
    wait_idle(page)
    assert_no_exception(page)


def test_attention_page_on_smollm2(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 1400})
    _open(page, f"{app_url}/attention?{LM}&attn_tab=Head&attn_layer=18&attn_head=6", "Probabilities — layer 18, head 6")
    assert page.get_by_text("causal decoder, 30 layers × 9 heads").count() >= 1
    assert page.get_by_text("everything above the diagonal is exactly 0").count() >= 1
    assert "model_text=smollm2-135m" in page.url
    shot(page, "lm_attention_head")
    _tab(page, "Overview", "all layers × heads")
    shot(page, "lm_attention_overview")
    _tab(page, "Statistics", "share on the first token (sink)")
    assert page.get_by_text("share on [CLS]/[SEP]").count() == 0
    shot(page, "lm_attention_statistics")
    page.get_by_text("Two models", exact=True).click()
    wait_idle(page)
    page.get_by_text("B: share on [CLS]/[SEP]").first.wait_for(timeout=120_000)
    assert page.get_by_text("A: share on the first token (sink)").count() >= 1
    assert_no_exception(page)
    shot(page, "lm_attention_two_models")


def test_variants_page_on_smollm2(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 2600})
    _open(page, f"{app_url}/variants?{LM}", "smollm2-135m, layer 2, head 0 (KV head 0)")
    page.get_by_text("density", exact=False).first.wait_for()
    assert page.get_by_text("is a causal decoder").count() >= 1
    shot(page, "lm_variants")


def test_masking_page_on_smollm2(page, app_url):
    page.set_viewport_size({"width": 1400, "height": 2600})
    _open(page, f"{app_url}/masking?{LM}", "max |Δ logits| left vs right")
    assert page.get_by_text("left padding: causal ∧ real key").count() >= 1
    shot(page, "lm_masking_padding")
    page.goto(f"{app_url}/masking?{LM}&mk_view=Effect+on+attention")
    wait_idle(page, timeout=180_000)
    page.get_by_text("causal: layer 0, head 0").first.wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    shot(page, "lm_masking_effect")
