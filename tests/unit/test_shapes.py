"""The shapes world (xviz.data.shapes): captions say what the ground truth holds, rendering is a pure function of
(split, seed), the held-out combinations never reach the training split, and the pixels carry the objects."""

import numpy as np
import pytest
import torch

from xviz.data import shapes
from xviz.errors import InputError

SCENES = shapes.render_scenes("train", 0, 300)


def _obj(shape="circle", colour="red", cx=20.0, cy=20.0, r=6.0):
    return shapes.ShapeObject(shape, colour, "small", cx, cy, r, shapes.COLOURS[colour])


def test_relations_by_hand():
    a, b = _obj(cx=20, cy=10), _obj(cx=22, cy=40)
    assert shapes.relation(a, b) == "above" and shapes.relation(b, a) == "below"
    c, d = _obj(cx=10, cy=30), _obj(cx=50, cy=25)
    assert shapes.relation(c, d) == "to the left of" and shapes.relation(d, c) == "to the right of"
    assert shapes.compose_caption((a, b), ("size colour shape", "colour")) == "a small red circle above a red shape"
    orange = _obj("square", "orange")
    assert orange.phrase("colour shape") == "an orange square" and orange.phrase("shape") == "a square"


def _phrase_in(caption: str, o: shapes.ShapeObject) -> bool:
    return any(o.phrase(f) in caption for f in shapes.FORMS)


@pytest.mark.parametrize("scene", SCENES[:120], ids=lambda s: f"seed{s.seed}")
def test_caption_matches_ground_truth(scene):
    cap, full = scene.caption, scene.full_caption
    assert 1 <= len(scene.objects) <= 3
    words = cap.replace(",", " ,").split()
    assert sum(w in shapes.SHAPES or w == "shape" for w in words) == len(scene.objects)  # one noun per object
    assert all(_phrase_in(cap, o) for o in scene.objects)
    assert all(o.phrase() in full for o in scene.objects)
    named = {w for w in words if w in shapes.COLOURS}  # every colour named belongs to an object
    assert named <= {o.colour for o in scene.objects}
    assert set(words) <= set(shapes.caption_vocabulary())
    if len(scene.objects) == 2:
        a, b = scene.objects
        assert f" {shapes.relation(a, b)} " in cap
        dx, dy = abs(a.cx - b.cx), abs(a.cy - b.cy)
        assert max(dx, dy) >= 1.5 * min(dx, dy)  # the relation is clear-cut
    if len(scene.objects) == 3:
        assert " and " in cap and ", " in cap


def test_rendering_is_deterministic_per_seed():
    a, b = shapes.render_scene(7), shapes.render_scene(7)
    assert a.caption == b.caption and a.objects == b.objects
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    c, d = shapes.render_scene(8), shapes.render_scene(7, "test")
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert not np.array_equal(np.asarray(a.image), np.asarray(d.image))  # the splits are separate seed spaces
    state = torch.random.get_rng_state()
    shapes.render_scenes("test", 0, 5)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is not touched


def test_held_out_combinations_never_appear_in_training():
    seen = {(o.colour, o.shape) for s in shapes.render_scenes("train", 0, 2000) for o in s.objects}
    assert not seen & shapes.HELD_OUT
    assert len(seen) == len(shapes.COLOURS) * len(shapes.SHAPES) - len(shapes.HELD_OUT)  # all the others do
    forced = shapes.render_scene(3, "test", n_objects=1, combo=("green", "triangle"), exclude=frozenset())
    assert (forced.objects[0].colour, forced.objects[0].shape) == ("green", "triangle")
    assert any(forced.caption == forced.objects[0].phrase(f) for f in shapes.FORMS)


def _interior(o: shapes.ShapeObject) -> tuple[int, int, int]:
    """A pixel well inside the object and how far around it is interior too: the centre ± 1 (circle, square), the
    triangle's centroid (a third of r below the box centre) alone — a small one is only ~7 px wide there."""
    if o.shape == "triangle":
        return int(o.cx), int(o.cy + o.r / 3), 0
    return int(o.cx), int(o.cy), 1


def test_pixels_of_an_object_have_its_colour():
    for scene in SCENES:
        pic = np.asarray(scene.image).astype(int)  # (H, W, 3)
        assert pic.shape == (shapes.IMAGE_SIZE, shapes.IMAGE_SIZE, 3)
        for o in scene.objects:
            x, y, d = _interior(o)
            patch = pic[y - d : y + d + 1, x - d : x + d + 1]  # (3, 3, 3) or (1, 1, 3) around the interior point
            assert (patch == np.array(o.rgb)).all(), (scene.seed, o)
            assert np.abs(np.array(o.rgb) - np.array(shapes.COLOURS[o.colour])).max() <= shapes.JITTER


def test_background_is_neutral_and_objects_stand_out():
    for scene in SCENES[:60]:
        pic = np.asarray(scene.image).astype(int)
        covered = np.zeros(pic.shape[:2], bool)
        for o in scene.objects:
            x0, y0, x1, y1 = (int(v) for v in o.box)
            covered[max(0, y0 - 1) : y1 + 2, max(0, x0 - 1) : x1 + 2] = True
        spread = pic.max(-1) - pic.min(-1)  # (H, W) chroma proxy
        assert spread[~covered].max() <= 13  # grey (± a slight tint) away from the objects
        assert all(max(o.rgb) - min(o.rgb) > 60 for o in scene.objects)  # saturated colours


def test_largest_labels_and_tensors():
    names = shapes.label_names()
    assert len(names) == 18 and names[shapes.class_index("orange", "square")] == "orange square"
    assert shapes.label_phrases()[shapes.class_index("orange", "square")] == "an orange square"
    s = next(s for s in SCENES if len(s.objects) == 3)
    assert s.largest.area == max(o.area for o in s.objects)
    x = shapes.to_tensor(SCENES[:4])
    assert x.shape == (4, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    assert torch.allclose(shapes.normalise(x), (x - 0.5) / 0.25)


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="split"):
        shapes.render_scene(0, "validation")
    with pytest.raises(InputError, match="1 to 3"):
        shapes.render_scene(0, n_objects=4)
    with pytest.raises(InputError, match="Unknown object"):
        shapes.render_scene(0, combo=("pink", "circle"))


def test_twins_differ_only_in_the_first_objects_shape():
    for seed in range(200):
        a, b = shapes.twin_scenes(seed)
        oa, ob = a.objects[0], b.objects[0]
        assert oa.shape != ob.shape and (ob.colour, ob.shape) not in shapes.HELD_OUT
        assert oa.shape in a.caption.split(",")[0] and ob.shape in b.caption.split(",")[0]
        assert (oa.colour, oa.size, oa.box, oa.rgb) == (ob.colour, ob.size, ob.box, ob.rgb)
        assert a.objects[1:] == b.objects[1:] and a.background == b.background
        assert a.caption.replace(oa.shape, ob.shape, 1) == b.caption
        x0, y0, x1, y1 = (int(v) for v in oa.box)
        pa, pb = np.asarray(a.image).copy(), np.asarray(b.image).copy()
        pa[y0 : y1 + 2, x0 : x1 + 2] = pb[y0 : y1 + 2, x0 : x1 + 2] = 0
        assert np.array_equal(pa, pb)  # the pixels differ only inside the first object's box
