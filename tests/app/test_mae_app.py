"""MAE page (AppTest): an uploaded image, a ratio change, both comparisons, fine-tuning and the URL. The
real-browser run is tests/browser/test_mae_browser.py."""

import numpy as np
from helpers import app_test, figure_titles, image_bytes

PAGE = "views/mae.py"


def _png_bytes(w=120, h=90) -> bytes:
    yy, xx = np.mgrid[0:h, 0:w]
    return image_bytes(np.stack([xx * 255 // w, yy * 255 // h, ((xx // 15 + yy // 15) % 2) * 200], -1).astype(np.uint8))


def _texts(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def test_upload_ratio_change_and_sections():
    at = app_test(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Masked autoencoder"
    assert "plain pixels" in _texts(at) and "held out" in _texts(at)  # default sample chelsea is held out
    at.radio(key="mae_img_src").set_value("Upload").run()
    at.file_uploader(key="mae_img_file").set_value(("stripes.png", _png_bytes(), "image/png")).run()
    assert not at.exception, at.exception
    assert "random, ratio 0.75 (16/64 visible)" in figure_titles(at)
    labels = [m.label for m in at.metric]
    assert labels == ["PSNR on hidden pixels", "mean-colour fill", "nearest-visible-patch fill"]
    psnr_075 = at.metric[0].value
    at.slider(key="mae_ratio").set_value(0.5).run()
    assert not at.exception
    assert "random, ratio 0.50 (32/64 visible)" in figure_titles(at)
    assert at.metric[0].value != psnr_075
    at.selectbox(key="mae_strategy").set_value("grid").run()
    assert "grid, ratio 0.50 (32/64 visible)" in figure_titles(at)

    at.radio(key="mae_view").set_value("Side by side").run()
    assert not at.exception
    assert "A (ratio 0.50)" in figure_titles(at) and "B (ratio 0.50)" in figure_titles(at)
    at.slider(key="mae_ratio_b").set_value(0.9).run()
    assert "B (ratio 0.90)" in figure_titles(at) and "(6/64 visible)" in figure_titles(at)
    at.radio(key="mae_cmp").set_value("two strategies").run()
    at.selectbox(key="mae_strategy_b").set_value("block").run()
    assert "A (grid)" in figure_titles(at) and "block, ratio 0.50" in figure_titles(at)


def test_finetune_runs_on_a_copy():
    at = app_test(PAGE)
    at.radio(key="mae_view").set_value("Fine-tune on this image").run()
    assert "private **copy**" in _texts(at)
    at.number_input(key="mae_ft_steps").set_value(3).run()
    at.button(key="mae_ft_go").click().run()
    assert not at.exception, at.exception
    assert "after 3 steps" in _texts(at)
    assert "before" in figure_titles(at) and "fine-tuning loss" in figure_titles(at)


def test_url_reopens_the_same_sample_image():
    """The image source and the sample are bound to the URL (?mae_img_src=Sample&mae_img_sample=coffee); the page
    learns which sample it is from the LoadedImage's source."""
    at = app_test(PAGE, query={"mae_img_src": "Sample", "mae_img_sample": "coffee"})  # a shared link
    assert not at.exception, at.exception
    sample, src = at.selectbox(key="mae_img_sample"), at.radio(key="mae_img_src")
    assert sample.value == "coffee" and (sample.proto.query_param_key, src.proto.query_param_key) == (
        "mae_img_sample",
        "mae_img_src",
    )
    assert "“coffee” was held out" in _texts(at)
