"""AppTest of the CLIP page on random-init CLIP and SigLIP folders (added as custom models, as the sidebar's "Add a
model" does): the values shown are the model's, every section and tower renders, the view is in the URL, and bad
input (no tokenizer, empty / huge / hostile labels, no CLIP model at all) gives a message, never a traceback."""

import numpy as np
import pytest
import torch
from clip_fixtures import save_clip, save_siglip
from helpers import app_test, figure_titled, figure_titles, image_bytes, plotly_array
from PIL import Image

import xviz
from xviz.pretrained.zoo import ZOO
from xviz.samples import load_sample

PAGE = "views/clip.py"
SECTIONS = ["Zero-shot", "Contrastive matrix", "Where a caption looks", "Inside both towers", "Side by side"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {
        "clip": str(save_clip(tmp_path_factory.mktemp("clip"))),
        "siglip": str(save_siglip(tmp_path_factory.mktemp("siglip"))),
        "bare": str(save_clip(tmp_path_factory.mktemp("bare"), layers=1, tokenizer=False)),
    }


def open_page(folder: str, query: dict | None = None, **state):
    at = app_test(PAGE, query=query, state={"custom_models_clip": [folder], "model_clip": folder, **state})
    assert not at.exception, [e.value for e in at.exception]
    return at


def _errors(at) -> str:
    return " | ".join(e.value for e in at.error)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_zero_shot_bars_are_the_models_probabilities(folders, family):
    at = open_page(folders[family])
    fig = figure_titled(at, "template ensemble")
    model = xviz.load_model(folders[family])
    labels = ["cat", "dog", "astronaut", "red circle", "blue square", "green triangle", "purple circle"]
    temps = ["{}", "a photo of a {}.", "a drawing of a {}.", "an image of a {} shape."]
    want = model.zero_shot(load_sample("chelsea"), labels, temps)[0].numpy()
    shown = plotly_array(fig["data"][0]["x"])
    np.testing.assert_allclose(shown, np.sort(want)[::-1], rtol=1e-4, atol=1e-6)
    assert "each template alone" in figure_titles(at)
    assert any("Answer:" in m.value for m in at.markdown)


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_every_section_and_tower_renders(folders, family):
    at = open_page(folders[family])
    for view in SECTIONS:
        at.radio(key="clip_view").set_value(view).run()
        assert not at.exception and not at.error, (view, [e.value for e in at.exception], _errors(at))
    at.radio(key="clip_view").set_value("Inside both towers").run()
    query = at.radio(key="clip_vq")
    assert query.options == (["CLS", "Patch"] if family == "clip" else ["Patch"])  # SigLIP has no CLS token
    at.radio(key="clip_tower").set_value("Text tower").run()
    assert not at.exception
    titles = figure_titles(at)
    assert "text tower, layer 1" in titles and "the pooled token's row" in titles
    assert any(("end token" if family == "clip" else "last position") in m.value for m in at.markdown)


def test_contrastive_matrix_and_comparisons(folders):
    at = open_page(folders["clip"], {"clip_view": "Contrastive matrix"})
    titles = figure_titles(at)
    for part in ("cosine(image i, caption j)", "softmax per row", "softmax per column", "loss per pair"):
        assert part in titles
    rows = plotly_array(figure_titled(at, "softmax per row")["data"][0]["z"])
    np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-4)
    at.radio(key="clip_batch_src").set_value("Sample images").run()
    assert not at.exception and "cosine" in figure_titles(at)
    at.radio(key="clip_view").set_value("Side by side").run()
    for choice in ("Two templates", "Two images"):
        at.radio(key="clip_cmp").set_value(choice).run()
        assert not at.exception and "A − B" in figure_titles(at), choice


def test_where_a_caption_looks_is_the_analysis(folders):
    from xviz.analysis.clip_maps import patch_similarity

    at = open_page(folders["clip"], {"clip_view": "Where a caption looks", "clip_caption": "a red circle"})
    fig = figure_titled(at, "patch · caption cosine")
    model = xviz.load_model(folders["clip"])
    want = patch_similarity(model, model.prepare(load_sample("chelsea")), "a red circle")
    scatter = next(t for t in fig["data"] if t.get("type") == "scatter" and "customdata" in t)
    np.testing.assert_allclose(plotly_array(scatter["customdata"])[:, 2], want.reshape(-1).numpy(), atol=1e-5)
    assert "gradient × attention relevance" in figure_titles(at)


def test_url_reopens_the_view(folders):
    query = {"clip_view": "Side by side", "clip_cmp": "Two templates", "clip_tpl_b": "a photo of a {}."}
    at = open_page(folders["clip"], query)
    assert at.radio(key="clip_cmp").value == "Two templates"
    assert at.selectbox(key="clip_tpl_b").value == "a photo of a {}."
    for key in ("clip_view", "clip_cmp", "clip_tpl_b", "clip_labels", "clip_tpl", "model_clip"):
        w = next(w for kind in ("radio", "selectbox", "text_area") for w in getattr(at, kind) if w.key == key)
        assert w.proto.query_param_key == key


# ---- bad input ----------------------------------------------------------------------------------------------------
def test_bad_labels_give_messages_and_the_page_recovers(folders):
    at = open_page(folders["clip"])
    at.text_area(key="clip_labels").set_value("  \n , \n").run()
    assert not at.exception and "No labels" in _errors(at)
    at.text_area(key="clip_labels").set_value("\n".join(f"label {i}" for i in range(3000))).run()
    assert not at.exception and "3,000 labels" in _errors(at)
    at.text_area(key="clip_labels").set_value("x" * 5000).run()
    assert not at.exception and "limited to" in _errors(at)
    hostile = "<b>bold</b>\n[link](javascript:alert(1))\n**star**"
    at.text_area(key="clip_labels").set_value(hostile).run()
    assert not at.exception and not at.error
    answer = next(m.value for m in at.markdown if "Answer:" in m.value)
    assert "<b>" not in answer.replace("\\<b\\>", "")  # escaped for markdown: shown, never rendered
    assert "&lt;b&gt;" in figure_titles(at) or "&lt;b&gt;" in str(figure_titled(at, "template ensemble"))
    at.selectbox(key="clip_tpl").set_value("custom…").run()
    at.text_area(key="clip_tpl_custom").set_value("no placeholder here").run()
    assert not at.exception and "{}" in _errors(at)


def test_model_without_tokenizer_keeps_the_image_tower(folders):
    at = open_page(folders["bare"])
    assert not at.exception and "no tokenizer" in _errors(at)
    at.radio(key="clip_view").set_value("Inside both towers").run()
    assert not at.exception and not at.error and "CLS → patches" in figure_titles(at)


def test_huge_non_square_and_bad_uploads(folders):
    at = open_page(folders["siglip"], {"clip_img_src": "Upload"})
    assert any("Upload an image" in i.value for i in at.info)
    wide = image_bytes(Image.new("RGB", (6000, 400), (200, 30, 40)), "PNG")  # huge, 15:1
    at.file_uploader(key="clip_img_file").set_value(("wide.png", wide, "image/png")).run()
    assert not at.exception and not at.error and "template ensemble" in figure_titles(at)
    at.file_uploader(key="clip_img_file").set_value(("x.png", b"not an image at all", "image/png")).run()
    assert not at.exception and "not an image" in _errors(at)


@pytest.mark.skipif("clip-shapes" in ZOO, reason="the zoo has a CLIP model: the page is never empty")
def test_no_clip_model_says_so():
    at = app_test(PAGE)
    assert not at.exception and any("No CLIP model" in i.value for i in at.info)


def test_opens_on_the_default_clip_model(folders):
    at = app_test(PAGE, state={"custom_models_clip": [folders["siglip"], folders["clip"]]})
    assert not at.exception
    want = "clip-shapes" if "clip-shapes" in ZOO else folders["siglip"]
    assert at.selectbox(key="model_clip").value == want
    assert torch.get_num_threads() == 1
