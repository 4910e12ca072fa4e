"""AppTest of the Attention page in image mode: the values shown are the model's, uploads work, and every bad
image of the corpus gives a message (never a traceback) with the page usable afterwards."""

import numpy as np
import pytest
import torch
from helpers import app_test, bad_corpus, figure_titled, heatmap_z, image_bytes, plotly_array

import xviz
from xviz.analysis.rollout import rollout_row
from xviz.samples import load_sample

PAGE = "views/attention.py"


def _patch_values(fig) -> np.ndarray:
    """The click layer's customdata: (row, col, value) per patch."""
    scatter = next(t for t in fig["data"] if t.get("type") == "scatter" and "customdata" in t)
    return plotly_array(scatter["customdata"])


@pytest.fixture(scope="module")
def at():
    a = app_test(PAGE)
    a.radio(key="attn_mode").set_value("Image").run()
    assert not a.exception
    return a


@pytest.fixture(scope="module")
def dinov2():
    return xviz.load_model("dinov2-s14")


def _record(model, img, size=224, mode=None):
    b = model.prepare(img, size=size, mode=mode)
    with torch.no_grad(), xviz.record(model, names="*.hook_probs") as rec:
        model(**b)
    return rec.stack("probs")[:, 0], b


def test_default_sample_cls_map_is_the_models(at, dinov2):
    assert any("fine-tuned for saliency" in i.value for i in at.info)
    fig = figure_titled(at, "CLS → patches, layer 11, mean of heads", match="contains")
    probs, b = _record(dinov2, load_sample("chelsea"))
    expect = probs[11, :, 0, 1:].mean(0).numpy()  # (256,)
    np.testing.assert_allclose(_patch_values(fig)[:, 2], expect, rtol=1e-5, atol=1e-7)
    assert fig["data"][0]["type"] == "image" and fig["data"][0]["source"].startswith("data:image/png")


def test_patch_query_head_and_rollout(at, dinov2):
    at.radio(key="img_query").set_value("Patch").run()
    at.number_input(key="img_row").set_value(5).run()
    at.number_input(key="img_col").set_value(7).run()
    at.selectbox(key="img_layer").set_value(8).run()
    at.selectbox(key="img_head").set_value(3).run()
    assert not at.exception
    fig = figure_titled(at, "patch (5, 7) → patches, layer 8, head 3", match="contains")
    probs, b = _record(dinov2, load_sample("chelsea"))
    q = 1 + 5 * 16 + 7
    np.testing.assert_allclose(_patch_values(fig)[:, 2], probs[8, 3, q, 1:].numpy(), rtol=1e-5, atol=1e-7)
    assert any(s["type"] == "rect" for s in fig["layout"]["shapes"])  # the selected patch is outlined
    at.session_state["img_tab"] = "Rollout"
    at.run()
    at.radio(key="img_fusion").set_value("max").run()
    fig = figure_titled(at, "rollout into the patch", match="contains")
    np.testing.assert_allclose(_patch_values(fig)[:, 2], rollout_row(probs, q, "max")[1:].numpy(), rtol=1e-4, atol=1e-7)
    at.radio(key="img_query").set_value("CLS").run()
    at.session_state["img_tab"] = "Attention map"
    at.run()


@pytest.mark.parametrize(
    "tab,marker",
    [
        ("Overview", "all layers × heads"),
        ("Statistics", "mean attention distance"),
        ("Collapse", "cross-layer attention similarity"),
    ],
)
def test_other_tabs(at, tab, marker):
    at.session_state["img_tab"] = tab
    at.run()
    assert not at.exception
    fig = figure_titled(at, marker, match="contains")
    if tab == "Collapse":
        z = heatmap_z(fig)
        assert z.shape == (12, 12) and np.allclose(np.diag(z), 1, atol=1e-5)
    if tab == "Statistics":
        assert any("high-norm" in m.value for m in at.markdown)
    at.session_state["img_tab"] = "Attention map"
    at.run()


def test_upload_compare_and_export(at, dinov2):
    img = load_sample("coffee").resize((300, 200))
    at.selectbox(key="img_layer").set_value(11).run()
    at.selectbox(key="img_head").set_value("mean").run()
    at.radio(key="img_a_src").set_value("Upload").run()
    assert any("Upload an image" in i.value for i in at.info)
    at.file_uploader(key="img_a_file").set_value(("my photo.png", image_bytes(img), "image/png")).run()
    assert not at.exception and not at.error
    fig = figure_titled(at, "CLS → patches", match="contains")
    probs, _ = _record(dinov2, img)
    np.testing.assert_allclose(_patch_values(fig)[:, 2], probs[11, :, 0, 1:].mean(0).numpy(), rtol=1e-5, atol=1e-7)
    at.radio(key="img_compare").set_value("Two images").run()
    assert not at.exception
    diff = figure_titled(at, "A − B", match="contains")
    probs_b, _ = _record(dinov2, load_sample("astronaut"))
    d = probs[11, :, 0, 1:].mean(0) - probs_b[11, :, 0, 1:].mean(0)
    np.testing.assert_allclose(_patch_values(diff)[:, 2], d.numpy(), atol=1e-6)
    at.radio(key="img_compare").set_value("Two layers/heads").run()
    assert not at.exception and figure_titled(at, "A − B", match="contains")
    at.session_state["img_tab"] = "Export"
    at.run()
    assert any("Recording" in m.value and "MiB" in m.value for m in at.markdown)
    at.radio(key="img_compare").set_value("Off").run()
    at.session_state["img_tab"] = "Attention map"
    at.run()


def test_bad_image_corpus_through_the_page(at):
    at.radio(key="img_a_src").set_value("Upload").run()
    corpus = bad_corpus()
    assert len(corpus) >= 15
    for kind, (data, must) in corpus.items():
        at.file_uploader(key="img_a_file").set_value((f"{kind}.png", data, "image/png")).run()
        assert not at.exception, kind
        errors = [e.value for e in at.error]
        assert errors and must in errors[0], (kind, errors)
        assert not at.get("plotly_chart"), kind  # the page stopped before drawing anything
    at.radio(key="img_a_src").set_value("Sample").run()  # the page is usable again
    assert not at.exception and not at.error
    assert figure_titled(at, "CLS → patches", match="contains")
