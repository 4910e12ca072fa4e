"""Token mixers page: AppTest (table values, a held-out digit, shifts, layer choice, upload, blank upload)."""
import io
import json

import numpy as np
import torch
from conftest import app_test
from PIL import Image

from xviz.models.digit_vit import shipped_accuracy

torch.set_num_threads(1)
PAGE = "views/mixers.py"


def _titles(at) -> str:
    specs = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
    return " | ".join(s.get("title", {}).get("text", "") for s in specs)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


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
    titles = _titles(at)
    assert "ViT layer 0: patch → patch attention on THIS digit" in titles
    assert "Mixer: learned token mixing W2·W1" in titles and "FNet: fixed Fourier mixing" in titles
    assert "Accuracy on the held-out digits, shifted" in titles
    assert "smallest drop is **" in " ".join(m.value for m in at.markdown)
    mixer_before = [c for c in at.get("plotly_chart") if "Mixer:" in c.proto.spec][0].proto.spec
    vit_before = [c for c in at.get("plotly_chart") if "on THIS digit" in c.proto.spec][0].proto.spec
    at.number_input(key="mx_idx").set_value(11).run()
    at.slider(key="mx_dx").set_value(2).run()
    assert not at.exception
    assert "input, shifted (+2, +0) px" in _titles(at)
    mixer_after = [c for c in at.get("plotly_chart") if "Mixer:" in c.proto.spec][0].proto.spec
    vit_after = [c for c in at.get("plotly_chart") if "on THIS digit" in c.proto.spec][0].proto.spec
    assert mixer_after == mixer_before and vit_after != vit_before   # input-independent vs input-dependent
    at.selectbox(key="mx_layer").set_value(3).run()
    assert "ViT layer 3" in _titles(at)


def test_upload_digit_blank_and_not_an_image():
    at = app_test(PAGE)
    at.radio(key="mx_src").set_value("Upload").run()
    assert not at.exception and "Upload a picture" in at.info[0].value
    arr = np.zeros((64, 64), np.uint8)
    arr[10:54, 28:36] = 255                                   # a "1"
    at.file_uploader(key="mx_file").set_value(("one.png", _png(arr), "image/png")).run()
    assert not at.exception, at.exception
    assert "How each model mixes tokens" in " ".join(h.value for h in at.header)
    at.file_uploader(key="mx_file").set_value(("blank.png", _png(np.full((64, 64), 255, np.uint8)), "image/png")).run()
    assert not at.exception
    assert "blank" in at.error[0].value
    at.file_uploader(key="mx_file").set_value(("x.png", b"not an image", "image/png")).run()
    assert not at.exception and "not an image" in at.error[0].value
    at.radio(key="mx_src").set_value("Held-out set").run()
    assert not at.exception and not at.error
