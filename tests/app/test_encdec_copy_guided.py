"""Encoder–decoder page (AppTest), the copy-mechanism and guided-attention sections: values shown, URL-bound
controls, and a clear message (never a traceback) for every bad input."""

import pytest
import torch
from helpers import app_test, figure_titled, figure_titles, heatmap_z

torch.set_num_threads(1)
PAGE = "views/encdec.py"


def _texts(at) -> str:
    return " ".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [i.value for i in at.info]
        + [e.value for e in at.error]
        + [w.value for w in at.warning]
    )


def _section(view: str, **query):
    at = app_test(query={"ed_view": view, **query})
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_copy_section_shows_unk_next_to_copies():
    at = _section("Copy mechanism", cp_src="please call quixzot at 8675309")
    table = at.dataframe[0].value
    words = dict(zip(table[""], table["words"]))
    assert words["what the encoder reads"] == "please call <unk> at <unk>"
    assert words["copy-plain"] == "phone <unk> <unk>" and words["copy-pointer"] == "phone quixzot 8675309"
    assert words["expected"] == "phone quixzot 8675309"
    assert list(table["verdict"])[2:4] == ["✗ wrong", "✓ correct"]
    assert "never in any training example: quixzot, 8675309" in _texts(at)
    labels = [m.label for m in at.metric]
    assert labels == [
        "copy-plain, held-out",
        "copy-pointer, held-out",
        "copy-plain, never-seen words",
        "copy-pointer, never-seen words",
    ]
    assert float(at.metric[3].value.rstrip("%")) >= 95 and float(at.metric[2].value.rstrip("%")) == 0
    assert "Step 1: copy-pointer writes “phone”" in figure_titles(at)  # generated: p_gen near 1
    steps = at.dataframe[1].value
    assert list(steps["copy-pointer"]) == ["phone", "quixzot", "8675309", "<eos>"]
    assert steps["p_gen"][0] > 0.8 and steps["p_gen"][1] < 0.2 and steps["most attended"][1] == "2:quixzot"
    at.slider(key="cp_step").set_value(2).run()
    assert not at.exception and "Step 2: copy-pointer writes “quixzot”" in figure_titles(at)
    fig = figure_titled(at, "copy-pointer: copy map")
    z = heatmap_z(fig)  # (steps, source tokens): row 1 copies source position 2
    assert z.shape == (4, 5) and z[1].argmax() == 2 and z[2].argmax() == 4
    linked = _section("Copy mechanism", cp_src="please call quixzot at 8675309", cp_step="3")  # a shared link
    assert "Step 3: copy-pointer writes “8675309”" in figure_titles(linked)


def test_copy_section_example_and_no_reference():
    at = _section("Copy mechanism")
    assert at.text_input(key="cp_src").value == "please remind zubeko to buy milk on friday"
    at.selectbox(key="cp_example").set_value("send 4417 vapimo to rukasi").run()
    assert not at.exception and at.text_input(key="cp_src").value == "send 4417 vapimo to rukasi"
    assert "order vapimo qty 4417 for rukasi" in list(at.dataframe[0].value["words"])
    at.text_input(key="cp_src").set_value("call the zorblat at once").run()  # task words, no template
    assert not at.exception and "no known answer" in _texts(at)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "The source is empty"),
        ("call zübeko at 4417", "a–z and 0–9 only"),
        ("call <b>x</b>", "a–z and 0–9 only"),
        ("call " + "zubeko " * 16, "at most 16"),
        ("hello there friend", "None of these words belongs to the task"),
    ],
)
def test_copy_section_bad_input(text, message):
    at = _section("Copy mechanism")
    at.text_input(key="cp_src").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in " ".join(e.value for e in at.error)


def test_guided_section_numbers_curves_and_maps():
    at = _section("Guided attention")
    table = at.dataframe[0].value
    assert list(table["model"]) == ["monotonic-plain", "monotonic-guided", "monotonic-location"]
    assert all(float(v.rstrip("%")) >= 95 for v in table["exact, held-out 1–8 digits"])
    assert float(table["exact, 16 digits"][2].rstrip("%")) > float(table["exact, 16 digits"][0].rstrip("%"))
    curve = figure_titled(at, "Diagonality during training")
    assert [tr["name"] for tr in curve["data"]] == ["monotonic-plain", "monotonic-guided", "monotonic-location"]
    maps = figure_titled(at, "Cross-attention on 31415926 at step")
    assert len([tr for tr in maps["data"] if tr["type"] == "heatmap"]) == 3
    assert heatmap_z(maps).shape == (len("three one four one five nine two six") + 1, 8)
    at.selectbox(key="gd_probe").set_value("271828182845").run()
    first = at.select_slider(key="gd_ckpt").options[0]
    at.select_slider(key="gd_ckpt").set_value(first).run()
    assert not at.exception and f"Cross-attention on 271828182845 at step {first}" in figure_titles(at)
    assert "longer than any training number" in _texts(at)
    outputs = at.dataframe[1].value
    assert outputs["correct"][2] == "✓"  # the location-aware model spells the default 12-digit number right
    assert "12 digits: longer than any number seen in training" in _texts(at)


@pytest.mark.parametrize(
    "text, message",
    [("", "The source is empty"), ("12a4", "digits 0–9 only"), ("٣٠٥", "digits 0–9 only"), ("9" * 30, "at most 24")],
)
def test_guided_section_bad_input(text, message):
    at = _section("Guided attention")
    at.text_input(key="gd_src").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in " ".join(e.value for e in at.error)


def test_the_classic_sections_still_open_with_their_picker():
    at = _section("Cross-attention")
    assert "Cross-attention, decoder layer 1, head mean" in figure_titles(at)
    assert "copy-pointer" not in [o for s in at.selectbox for o in (s.options or [])]  # not in the seq2seq picker
