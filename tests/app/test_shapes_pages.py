"""The MAE and Swin pages with the shapes-world models picked (AppTest): each says which model is for photos and
which for shapes, shows the trained model's description, and looks at a held-out shapes scene."""

import torch
from helpers import app_test, figure_specs

import xviz
from xviz.data import shapes


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
    return " ".join(parts)


def test_mae_page_on_mae_shapes_reconstructs_a_shapes_scene():
    at = app_test("views/mae.py", state={"model_mae": "mae-shapes"})
    assert not at.exception, at.exception
    text = _text(at)
    assert "Which MAE" in text and "trained by xviz" in text and "shapes" in text
    assert "Held-out shapes scene 0" in text
    gain = float(at.metric[1].delta.split()[1].replace("dB", ""))  # "MAE +x.xx dB" over the mean-colour fill
    assert gain > 3.0  # one scene, one mask: well above the flat fill
    assert at.radio(key="mae_img_src").value == "Shapes scene"  # a shapes model opens on a shapes scene
    at.number_input(key="mae_img_scene").set_value(5).run()
    assert not at.exception and "Held-out shapes scene 5" in _text(at)
    at.radio(key="mae_img_src").set_value("Sample").run()  # back to a photo
    assert not at.exception and "Held-out shapes scene" not in _text(at)


def test_mae_page_on_mae_small_says_which_model_is_for_what():
    at = app_test("views/mae.py")
    assert not at.exception and "Which MAE" in _text(at)
    assert at.radio(key="mae_img_src").value == "Sample"  # the photo MAE opens on a photo


def test_swin_page_on_swin_shapes_reads_its_trained_weights():
    at = app_test("views/swin.py", state={"model_swin": "swin-shapes", "swin_view": "Relative position"})
    assert not at.exception, at.exception
    text = _text(at)
    assert "Which Swin" in text and "UNTRAINED" not in text and "swin-shapes: " in text
    assert "swin-shapes: table, block 0, head 0" in " ".join(figure_specs(at))
    at.radio(key="swin_view").set_value("Real attention").run()
    assert not at.exception, at.exception
    specs = " ".join(figure_specs(at))
    assert "block 1 (SW-MSA, shift 2)" in specs  # swin-shapes: M = 4, shift 2
    assert at.slider(key="swin_att_win").max == 15  # 16 × 16 tokens of a 64-px scene: 16 windows of 4 × 4


def test_clip_page_opens_on_clip_shapes_and_answers_as_the_api_does():
    at = app_test("views/clip.py")
    assert not at.exception, at.exception
    assert at.selectbox(key="model_clip").value == "clip-shapes"
    assert at.radio(key="clip_img_src").value == "Shapes scene"  # the model's own world, not a photo
    assert at.text_area(key="clip_labels_shapes").value.splitlines() == shapes.label_phrases()
    at.number_input(key="clip_img_scene").set_value(3).run()
    assert not at.exception and "Held-out shapes scene 3" in _text(at)
    scene = shapes.render_scene(3, "test", exclude=frozenset())
    probs = xviz.load_model("clip-shapes").zero_shot([scene.image], shapes.label_phrases(), ["{}"])  # (1, 18)
    best = shapes.label_phrases()[int(torch.argmax(probs))]
    answer = next(m.value for m in at.markdown if m.value.startswith("**Answer:**"))
    assert answer.startswith(f"**Answer:** {best} (p = {float(probs.max()):.3f}")
