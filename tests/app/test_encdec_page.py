"""Encoder–decoder page (AppTest): values on every section, URL-bound controls, bad input."""

import torch
from helpers import app_test, figure_titles

torch.set_num_threads(1)
PAGE = "views/encdec.py"


def _texts(at) -> str:
    return " ".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [i.value for i in at.info]
        + [s.value for s in at.success]
        + [e.value for e in at.error]
        + [w.value for w in at.warning]
    )


def test_cross_attention_values_and_tasks():
    at = app_test(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Encoder–decoder"
    assert "sremrofsnart" in _texts(at) and "correct" in _texts(at)  # default: reverse "transformers"
    labels = [m.label for m in at.metric]
    assert labels[0] == "Alignment score (this map)" and labels[1].startswith("Best head (layer ")
    assert float(at.metric[1].value) > 0.5  # some head reads the right char
    assert "Cross-attention, decoder layer 1, head mean" in figure_titles(at)
    at.selectbox(key="ed_x_head").set_value(2).run()
    assert "head 2" in figure_titles(at)
    at.selectbox(key="ed_task").set_value("date").run()
    assert not at.exception, at.exception
    assert at.text_input(key="ed_src").value == "3rd of March 2021"
    assert "2021-03-03" in _texts(at)
    at.text_input(key="ed_src").set_value("31st of February 2021").run()
    assert not at.exception and "nonsense date" in _texts(at)


def test_bad_input_messages():
    at = app_test(PAGE)
    at.text_input(key="ed_src").set_value("").run()
    assert not at.exception and "empty" in _texts(at)
    at.text_input(key="ed_src").set_value("héllo wörld").run()
    assert not at.exception and "outside the model's vocabulary" in _texts(at)
    at.text_input(key="ed_src").set_value("abcdefghijklmnopqrstuvwxyzabcdef").run()
    assert not at.exception and "truncated to the first 24" in _texts(at)


def test_sections_show_values():
    at = app_test(PAGE)
    at.radio(key="ed_view").set_value("Self-attention").run()
    assert not at.exception, at.exception
    assert "Encoder self-attention, layer 1" in figure_titles(at) and "(exactly 0)" in _texts(at)
    at.radio(key="ed_view").set_value("Decoding step by step").run()
    assert "Output: **sremrofsnart**" in _texts(at) and "Step 1:" in figure_titles(at)
    at.radio(key="ed_strategy").set_value("beam").run()
    assert not at.exception and "Beam search tree (3 beams)" in figure_titles(at)
    at.radio(key="ed_strategy").set_value("sample").run()
    at.slider(key="ed_temp").set_value(2.5).run()
    assert not at.exception and "steps" in _texts(at)
    at.radio(key="ed_view").set_value("Teacher forcing vs free running").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table[""]) == [
        "ground truth",
        "decoder input with the mistake",
        "teacher forcing: predictions",
        "free running from the mistake",
    ]
    assert table["sequence"][0] == "sremrofsnart" and table["sequence"][1][2] == "x"
    at.radio(key="ed_view").set_value("AT vs NAT").run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    assert df.loc["AT", "output"] == "sremrofsnart" and df.loc["NAT", "decoder passes"] == "1"
    assert "NAT: last layer cross-attention" in figure_titles(at)
    at.radio(key="ed_view").set_value("BLEU").run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric] == ["AT exact match", "AT BLEU (chars)", "NAT exact match", "NAT BLEU (chars)"]
    assert float(at.metric[0].value.rstrip("%")) >= 95 and float(at.metric[1].value) > 95
