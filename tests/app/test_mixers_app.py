"""Token mixers page: AppTest (table values, a held-out digit, shifts, layer choice, upload, blank upload)."""

import numpy as np
import torch
from helpers import app_test, figure_specs, figure_titles, image_bytes

from xviz.pretrained.zoo import shipped_accuracy

torch.set_num_threads(1)
PAGE = "views/mixers.py"


def test_page_table_digit_shift_and_layers():
    at = app_test(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Token mixers"
    df = at.dataframe[0].value
    assert list(df["model"]) == ["vit-digits", "mixer-digits", "fnet-digits", "cnn-digits"]
    for _, row in df.iterrows():
        assert row["held-out accuracy"] == round(shipped_accuracy(row["model"]), 4) >= 0.95
        assert row["parameters"] > 10_000 and row["ms / image (batch 64, this device)"] > 0
    assert "True label: **" in " ".join(c.value for c in at.caption)
    assert [m.label for m in at.metric] == ["vit-digits", "mixer-digits", "fnet-digits", "cnn-digits"]
    titles = figure_titles(at)
    assert "ViT layer 0: patch → patch attention on THIS digit" in titles
    assert "Mixer: learned token mixing W2·W1" in titles and "FNet: fixed Fourier mixing" in titles
    assert "Accuracy on the held-out digits, shifted" in titles
    assert "smallest drop is **" in " ".join(m.value for m in at.markdown)
    mixer_before = next(s for s in figure_specs(at) if "Mixer:" in s)
    vit_before = next(s for s in figure_specs(at) if "on THIS digit" in s)
    at.number_input(key="mx_idx").set_value(11).run()
    at.slider(key="mx_dx").set_value(2).run()
    assert not at.exception
    assert "input, shifted (+2, +0) px" in figure_titles(at)
    mixer_after = next(s for s in figure_specs(at) if "Mixer:" in s)
    vit_after = next(s for s in figure_specs(at) if "on THIS digit" in s)
    assert mixer_after == mixer_before and vit_after != vit_before  # input-independent vs input-dependent
    at.selectbox(key="mx_layer").set_value(3).run()
    assert "ViT layer 3" in figure_titles(at)


def test_upload_digit_blank_and_not_an_image():
    at = app_test(PAGE)
    at.radio(key="mx_src").set_value("Upload").run()
    assert not at.exception and "Upload a picture" in at.info[0].value
    arr = np.zeros((64, 64), np.uint8)
    arr[10:54, 28:36] = 255  # a "1"
    at.file_uploader(key="mx_file").set_value(("one.png", image_bytes(arr), "image/png")).run()
    assert not at.exception, at.exception
    assert "How each model mixes tokens" in " ".join(h.value for h in at.header)
    blank = image_bytes(np.full((64, 64), 255, np.uint8))
    at.file_uploader(key="mx_file").set_value(("blank.png", blank, "image/png")).run()
    assert not at.exception
    assert "blank" in at.error[0].value
    at.file_uploader(key="mx_file").set_value(("x.png", b"not an image", "image/png")).run()
    assert not at.exception and "not an image" in at.error[0].value
    at.radio(key="mx_src").set_value("Held-out set").run()
    assert not at.exception and not at.error
