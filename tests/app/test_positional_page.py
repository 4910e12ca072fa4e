"""Positional-encoding page (AppTest): what is shown in each section. The real-browser run is
tests/browser/test_positional_browser.py."""

import numpy as np
import pytest
from helpers import app_test, figures, heatmap_z, title_of

PAGE = "views/positional.py"


@pytest.fixture(scope="module")
def at():
    return app_test(PAGE)


def _view(at, name):
    at.radio(key="pe_view").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sinusoidal_heatmap_similarity_and_mk(at):
    _view(at, "Sinusoidal")
    heat = heatmap_z(figures(at)[0])
    assert heat.shape == (50, 128)  # the classic 50 × 128 figure
    assert heat[3, 0] == pytest.approx(np.sin(3), abs=1e-5) and heat[3, 1] == pytest.approx(np.cos(3), abs=1e-5)
    metric = at.metric[0]
    assert "M_5" in metric.label and float(metric.value) < 1e-5
    at.slider(key="pe_k").set_value(40).run()
    assert "M_40" in at.metric[0].label and float(at.metric[0].value) < 1e-5
    at.radio(key="pe_sim").set_value("dot").run()
    offset = figures(at)[2]["data"]
    assert offset[-1]["name"] == "Σᵢ cos(ωᵢ k)"  # the formula is drawn over the curve


def test_learned_table_of_minilm(at):
    _view(at, "Learned tables")
    heads = " ".join(s.value for s in at.subheader)
    assert "embed.position.weight" in heads and "(512, 384)" in heads
    from xviz.pretrained.zoo import available_models

    if "dinov2-s14" in available_models("image"):  # the ViT-paper patch-grid similarity
        assert any("37 × 37 patch grid" in c.value for c in at.caption)
        mosaic = [c for c in figures(at) if "patch position to all others" in title_of(c)]
        assert mosaic and mosaic[0]["data"][0]["type"] == "image"
    else:  # no image model: the section says so
        assert any("image model" in i.value or "pos_embed" in i.value for i in at.info)


def test_2d_sincos_cls_row(at):
    _view(at, "2-D sin-cos")
    assert any("(197, 64)" in c.value and "CLS row of zeros" in c.value for c in at.caption)
    at.checkbox(key="pe_cls").uncheck().run()
    assert any("(196, 64)" in c.value for c in at.caption)


def test_rope_offset_only_and_alibi_slopes(at):
    _view(at, "RoPE & ALiBi")
    assert float(at.metric[0].value) < 1e-9
    assert any(c.value.startswith("Slopes: 0.5, 0.25, 0.125") for c in at.caption)
    from xviz.pretrained.zoo import available_models

    if available_models("swin"):  # Swin's learned relative bias table
        assert any("= ((2M−1)², heads), M = 7" in c.value for c in at.caption)


def test_beyond_and_side_by_side(at):
    _view(at, "Beyond the trained length")
    assert any("512 rows" in m.value and "ALiBi" in m.value for m in at.markdown)
    _view(at, "Side by side")
    at.selectbox(key="pe_ka").set_value("ALiBi").run()
    at.selectbox(key="pe_kb").set_value("learned (text model)").run()
    caps = [c.value for c in at.caption if "spread along diagonals" in c.value]
    assert caps[0].startswith("ALiBi: spread along diagonals 0 ")
    assert float(caps[1].split("diagonals ")[1].split(" ")[0]) > 0.01
