"""The attention-variants page (AppTest): what is shown (compare, gallery, measurement, bad input, image, URL
state, a decoder's head). The real-browser run is tests/browser/test_variants_browser.py."""

import pytest
import torch
from helpers import app_test, app_with_text_model, block_local_variant

import xviz.variants as V
from xviz.analysis.variant_inputs import image_qkv, text_qkv
from xviz.hooks import record
from xviz.pretrained.zoo import ZOO

PAGE = "views/variants.py"


def metrics(at, which: int = 0) -> dict:
    """The metrics of variant A (which=0) or B (which=1): six per variant, in page order."""
    ms = list(at.metric)[6 * which : 6 * which + 6]
    return {m.label: m.value for m in ms}


def test_head_qkv_reproduce_the_models_own_attention(minilm):
    """The Q/K/V the page uses are the recorded head's: full attention on them is the model's probs."""
    text = "Sparse attention keeps the neighbours."
    head = text_qkv(minilm, text, 3, 7)
    with torch.no_grad(), record(minilm, names="blocks.3.attn.hook_probs") as rec:
        minilm(**minilm.prepare(text))
    torch.testing.assert_close(V.full(head.q, head.k, head.v)[1], rec["probs", 3][0, 7], atol=1e-5, rtol=1e-4)


def test_image_head_on_a_tiny_vit():
    from PIL import Image

    from xviz.models.vit import ViT, ViTConfig

    cfg = ViTConfig(
        hidden_size=32, num_layers=2, num_heads=2, mlp_hidden=64, patch_size=8, image_size=32, input_size=32
    )
    model = ViT(cfg).eval()
    model.name = "tiny-vit"
    img = Image.new("RGB", (40, 30), (200, 30, 90))
    head = image_qkv(model, img, 1, 1, size=32)
    assert head.n == 1 + 16 and head.labels[0] == "CLS"
    with torch.no_grad(), record(model, names="blocks.1.attn.hook_probs") as rec:
        model(**model.prepare(img, size=32))
    torch.testing.assert_close(V.full(head.q, head.k, head.v)[1], rec["probs", 1][0, 1], atol=1e-5, rtol=1e-4)


def test_page_compares_two_variants_and_shows_the_gallery():
    at = app_test(PAGE)
    assert not at.exception
    assert at.title[0].value == "Attention variants"
    m = metrics(at)
    assert float(m["density"]) < 1 and float(m["relative output error"]) > 0
    assert any("minilm-l6, layer 2, head 0" in c.value for c in at.caption)
    table = at.dataframe[0].value  # the gallery table
    assert len(table) == len(V.VARIANTS)
    full_row = table[table["variant"] == "Full softmax"].iloc[0]
    assert full_row["relative output error"] == 0 and full_row["density"] == 1
    # a wider window than the sentence makes the sliding window exact
    at.slider(key="var_w").set_value(256).run()
    assert not at.exception
    assert float(metrics(at)["relative output error"]) == 0
    # variant A → Reformer LSH with one bucket: exact again (the test's oracle, through the UI)
    at.selectbox(key="var_a").set_value("lsh").run()
    at.select_slider(key="var_buckets").set_value(1).run()
    assert not at.exception and float(metrics(at)["relative output error"]) == 0


def test_page_measures_scaling_at_small_sizes():
    at = app_test(PAGE)
    at.multiselect(key="var_kern").set_value(["sdpa_full", "dense_masked", "window_blockwise", "performer"])
    at.multiselect(key="var_sizes").set_value([64, 128])
    at.slider(key="var_heads").set_value(2).run()
    assert any("Measure" in i.value for i in at.info)
    at.button(key="var_measure").click().run()
    assert not at.exception
    rows = at.dataframe[1].value  # after the gallery table
    assert len(rows) == 8 and set(rows["status"]) == {"ok"} and (rows["ms"] > 0).all()
    dense = rows[(rows["kernel"] == "dense_masked") & (rows["n"] == 128)].iloc[0]
    assert dense["peak_mib"] * 2**20 >= 2 * 2 * 128 * 128 * 4
    at.slider(key="var_w").set_value(10).run()  # another widget: the cached measurement stays on screen
    assert not at.exception and len(at.dataframe[1].value) == 8


def test_page_synthetic_input_url_state_and_bad_text():
    at = app_test(PAGE, query={"var_a": "BigBird"})  # a bound selectbox: the URL holds the option's label
    assert at.selectbox(key="var_a").value == "bigbird" and at.query_params["var_a"] == "BigBird"
    assert "var_b" not in at.query_params  # a default value stays out of the URL
    at.radio(key="var_src").set_value("Synthetic long sequence").run()
    at.select_slider(key="var_syn_n").set_value(128).run()
    assert not at.exception
    assert any("synthetic, N = 128" in c.value for c in at.caption)
    at.radio(key="var_src").set_value("Sentence").run()
    at.text_area(key="var_text").input("   ").run()
    assert not at.exception
    assert any("empty" in e.value for e in at.error)


# ---- URL state: every main control is bound to a query parameter named by its widget key ----------------------
# A shared link: synthetic input (no model to load), two variants (by label), a knob of each widget kind.
URL = {
    "var_src": "Synthetic long sequence",
    "var_syn_n": "128",
    "var_syn_seed": "5",
    "var_a": "Longformer",
    "var_b": "Reformer LSH",
    "var_w": "16",
    "var_buckets": "8",
    "var_shared": "true",
    "var_proj": "gaussian",
    "var_seed": "3",
    "var_heads": "2",
    "var_sizes": ["64", "128"],
}
KINDS = ("radio", "select_slider", "selectbox", "slider", "checkbox", "number_input", "multiselect", "text_area")


def _open_with(query: dict):
    at = app_test(PAGE, query=query)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _widgets(at) -> list:
    """The page's own keyed widgets (var_…), all of them bound to the URL."""
    return [w for kind in KINDS for w in getattr(at, kind) if (w.key or "").startswith("var_")]


def _view(at) -> dict:
    return {w.key: w.value for w in _widgets(at)}


def test_page_reopens_the_view_its_url_names():
    at = _open_with(URL)
    v = _view(at)
    assert (v["var_src"], v["var_syn_n"], v["var_syn_seed"]) == ("Synthetic long sequence", 128, 5)
    assert (v["var_a"], v["var_b"], v["var_w"], v["var_buckets"]) == ("longformer", "lsh", 16, 8)
    assert (v["var_shared"], v["var_proj"], v["var_seed"], v["var_heads"]) == (True, "gaussian", 3, 2)
    assert v["var_sizes"] == [64, 128] and v["var_d"] == 2  # not in the URL: its default
    assert any("synthetic, N = 128" in c.value for c in at.caption)
    assert at.query_params == URL  # valid non-default values stay in the URL, nothing else is added


def test_url_names_the_sentence_and_the_head_of_the_model():
    """The layer/head keys carry the model's name: a link made on another model leaves these at their default."""
    text = "The cat sat on the mat."
    at = _open_with(
        {
            "var_text": text,
            "var_text_minilm-l6_layer": "4",
            "var_text_minilm-l6_head": "5",
            "var_text_other-model_layer": "1",
            "var_causal": "true",
        }
    )
    assert at.text_area(key="var_text").value == text and at.checkbox(key="var_causal").value is True
    assert any("minilm-l6, layer 4, head 5" in c.value for c in at.caption)


def test_changing_a_widget_writes_the_url_and_the_url_reopens_it():
    at = _open_with({"var_src": "Synthetic long sequence", "var_syn_n": "64"})
    # The browser writes each change to ?<query_param_key>=…; AppTest has no browser, so check the key it is given
    widgets = _widgets(at)
    assert len(widgets) == 3 + len(V.PARAMS) + 2 + 7  # input, parameters, variants A/B, measurement
    assert all(w.proto.query_param_key == w.key for w in widgets)
    at.slider(key="var_d").set_value(3).run()
    at.selectbox(key="var_b").set_value("kmeans").run()
    at.checkbox(key="var_causal").check().run()
    at.multiselect(key="var_kern").set_value(["sdpa_full", "performer"]).run()
    at.selectbox(key="var_a").set_value("bigbird").run()
    at.selectbox(key="var_a").set_value("sliding_window").run()  # back to its default
    # ... and the server writes the bound values itself when the page mounts again (here: after a page switch)
    at.switch_page("views/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    q = at.query_params
    assert (q["var_d"], q["var_b"], q["var_causal"]) == ("3", "Routing (k-means)", "true")
    assert q["var_kern"] == ["full attention (SDPA)", "Performer FAVOR+ (linear)"]
    assert "var_a" not in q and "var_w" not in q  # default values stay out of the URL
    again = _open_with(dict(q))  # a fresh session on that URL shows the same view
    assert _view(again) == _view(at)


def test_a_bad_url_value_falls_back_to_the_default():
    at = _open_with(
        {"var_a": "no such variant", "var_w": "9999", "var_src": "Synthetic long sequence", "var_syn_n": "64"}
    )
    assert at.selectbox(key="var_a").value == "sliding_window" and "var_a" not in at.query_params
    assert at.slider(key="var_w").value in (8, 256)  # refused (default) or clamped to the maximum


@pytest.fixture
def toy_variant(monkeypatch):
    """A block-local pattern registered in one place: the registry (tests/unit/test_variants_registry.py has it)."""
    toy = block_local_variant()
    monkeypatch.setitem(V.VARIANTS, toy.name, toy)
    return toy


def test_a_variant_registered_once_is_on_the_page(toy_variant):
    at = _open_with({"var_src": "Synthetic long sequence", "var_syn_n": "64", "var_a": toy_variant.label})
    assert at.selectbox(key="var_a").value == toy_variant.name  # in the list, reachable by URL
    assert any(toy_variant.note in c.value and "Block (BigBird, Sinkhorn)" in c.value for c in at.caption)
    table = at.dataframe[0].value  # the gallery table
    assert len(table) == len(V.VARIANTS) and toy_variant.label in set(table["variant"])
    assert toy_variant.label in at.slider(key="var_block").help  # the knob it reads says so


@pytest.mark.skipif("dinov2-s14" not in ZOO, reason="no image model registered")
def test_page_on_an_image():
    at = app_test(PAGE)
    at.radio(key="var_src").set_value("Image").run()
    assert not at.exception
    assert any("dinov2-s14" in c.value and "N = 257 tokens" in c.value for c in at.caption)
    assert any("saliency" in c.value for c in at.caption)  # the checkpoint's nature is said
    assert float(metrics(at)["density"]) < 0.2


# ---- a causal decoder's head (tiny random Llama with GQA; SmolLM2 in the slow test) --------------------------
def _decoder_head_matches_the_model(model, text, layer, head):
    """Causal full attention on the page's q, k, v (k, v of the KV head serving `head`) is the model's own."""
    qkv = text_qkv(model, text, layer, head)
    assert qkv.causal and qkv.n == len(model.prepare(text).tokens[0])
    with torch.no_grad(), record(model, names=f"blocks.{layer}.attn.hook_*") as rec:
        model(**model.prepare(text))
    kv = head // (model.num_heads // model.num_kv_heads)
    torch.testing.assert_close(qkv.k, rec["k", layer][0, kv].float())
    torch.testing.assert_close(
        V.full(qkv.q, qkv.k, qkv.v, causal=True)[1], rec["probs", layer][0, head], atol=1e-5, rtol=1e-4
    )
    return qkv


def test_decoder_head_uses_its_kv_head(tiny_lm):
    import xviz

    model = xviz.load_model(tiny_lm)
    qkv = _decoder_head_matches_the_model(model, "The cat sat on the mat.", 1, 3)
    assert "KV head 1" in qkv.source


def test_page_on_a_decoder_head_is_causal(tiny_lm):
    at = app_with_text_model(tiny_lm, PAGE)
    assert at.checkbox(key="var_causal_dec").value is True  # a decoder's head: causal by default
    assert any("causal decoder" in c.value for c in at.caption)
    assert any(", layer 1, head 0 (KV head 0)" in c.value for c in at.caption)
    table = at.dataframe[0].value
    no_causal_form = table["variant"].str.contains("FNet|Linformer")
    assert table["causal"][~no_causal_form].all() and not table["causal"][no_causal_form].any()
    full_row = table[table["variant"] == "Full softmax"].iloc[0]
    assert full_row["relative output error"] == 0
    at.number_input(key=f"var_text_{tiny_lm}_head").set_value(3).run()
    assert any(", layer 1, head 3 (KV head 1)" in c.value for c in at.caption)


@pytest.mark.slow
def test_page_on_smollm2():
    import xviz

    model = xviz.load_model("smollm2-135m")
    _decoder_head_matches_the_model(model, "When Mary and John went to the store, John gave a drink to", 18, 6)
    at = app_with_text_model("smollm2-135m", PAGE)
    assert any("smollm2-135m, layer 2, head 0 (KV head 0)" in c.value for c in at.caption)
    assert at.checkbox(key="var_causal_dec").value is True
    at.number_input(key="var_text_smollm2-135m_layer").set_value(29).run()
    at.number_input(key="var_text_smollm2-135m_head").set_value(8).run()
    assert not at.exception
    assert any("layer 29, head 8 (KV head 2)" in c.value for c in at.caption)
    assert float(metrics(at)["density"]) < 1
