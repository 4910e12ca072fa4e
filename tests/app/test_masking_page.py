"""Masking page (AppTest): what is shown, on MiniLM and on a causal decoder (left vs right padding). The real-browser
run is tests/browser/test_masking_browser.py."""

import numpy as np
import pytest
import torch
from helpers import app_test, app_with_text_model, figure_titled, heatmap_z

import xviz
from xviz.analysis import masking as A
from xviz.analysis.masking_decoder import decoder_mask

PAGE = "views/masking.py"


@pytest.fixture(scope="module")
def at():
    return app_test(PAGE)


def _view(at, name):
    at.radio(key="mk_view").set_value(name).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at) -> dict:
    return {m.label: float(m.value) for m in at.metric}


def test_padding_batch_shows_the_real_mask_and_zero_pad_attention(at):
    _view(at, "Padding (batch)")
    table = at.dataframe[0].value
    assert len(table) == 3  # three sentences, padded to the longest
    assert table.iloc[1]["0"] == "[CLS] (1)" and table.iloc[1]["4"] == "[SEP] (1)" and table.iloc[1]["5"] == "[PAD] (0)"
    m = _metrics(at)
    assert m["largest probability on a masked entry"] == 0.0
    assert m["max |row sum − 1| (every layer, head, row)"] < 1e-5


def test_attention_masks_with_lm_labels(at):
    _view(at, "Attention masks")
    assert at.selectbox(key="mk_kind").value == "causal"
    rows = at.dataframe[0].value
    assert list(rows["input"][:3]) == ["[CLS]", "the", "cat"]
    assert list(rows["label (next token)"][:2]) == ["the", "cat"]
    assert rows["label (next token)"].iloc[-1] == "−100 (ignored)"
    at.selectbox(key="mk_kind").set_value("prefix-LM").run()
    at.slider(key="mk_prefix").set_value(4).run()
    labels = list(at.dataframe[0].value["label (next token)"])
    assert labels[:3] == ["−100 (ignored)"] * 3 and labels[3] == "on"  # targets start after the prefix
    at.selectbox(key="mk_kind").set_value("document").run()
    assert any("Document of each token" in m.value for m in at.markdown)


def test_mlm_inputs_and_labels(at):
    _view(at, "MLM (80/10/10)")
    rows = at.dataframe[0].value
    sel = rows[rows["selected"].str.contains("%")]
    assert len(sel) >= 1
    assert all(sel["label"] == sel["token"])
    masked = rows[rows["selected"].str.startswith("→ [MASK]")]
    assert all(masked["model input"] == "[MASK]")
    at.text_input(key="mk_mlm_text").input("   ").run()
    assert not at.exception and any("empty" in e.value for e in at.error)
    at.text_input(key="mk_mlm_text").input("The quick brown fox jumps over the lazy dog near the river bank.").run()


def test_mae_patch_mask(at):
    _view(at, "MAE patch mask")
    assert any("**147** of 196 patches hidden, **49** visible" in m.value for m in at.markdown)
    at.slider(key="mk_ratio").set_value(0.5).run()
    assert any("**98** of 196" in m.value for m in at.markdown)


def test_effect_and_side_by_side(at):
    _view(at, "Effect on attention")
    m = _metrics(at)
    assert m["largest probability on a masked entry"] == 0.0
    _view(at, "Side by side")
    vals = [float(x.value) for x in at.metric]
    assert len(vals) == 4 and vals[0] == 0.0 and vals[2] == 0.0 and max(vals[1], vals[3]) < 1e-5


def test_empty_sentences_give_a_message(at):
    _view(at, "Padding (batch)")
    at.text_area(key="mk_text").input("  \n ").run()
    assert not at.exception and any("empty" in e.value for e in at.error)


# ---- a real causal decoder: its own causal mask, left vs right padding (tiny random Llama; SmolLM2 slow) ------
def _check_padding_sides(at, model):
    m = _metrics(at)
    assert m["largest probability on a masked entry"] == 0.0 and m["max |row sum − 1| (real queries)"] < 1e-5
    assert m["max |Δ logits| left vs right"] < 1e-4 and m["max |Δ attention| left vs right"] < 1e-5
    sents = [s for s in at.text_area(key="mk_text").value.splitlines() if s.strip()]
    for side in ("left", "right"):
        am = model.prepare(sents, padding_side=side)["attention_mask"]
        np.testing.assert_array_equal(heatmap_z(figure_titled(at, f"padded on the {side}")), am.numpy())
        mask = heatmap_z(figure_titled(at, f"{side} padding: causal ∧ real key"))
        np.testing.assert_array_equal(mask, decoder_mask(am)[0].float().numpy())  # sentence #0
        p = heatmap_z(figure_titled(at, f"{side} padding: layer 0, head 0"))
        real = am[0].bool().numpy()
        assert np.isnan(p[~real]).all() and (np.nan_to_num(p) * (1 - mask)).max() == 0.0  # causal ∧ no pad keys
    return am


def test_decoder_padding_left_vs_right(tiny_lm):
    at = app_with_text_model(tiny_lm, PAGE)
    _view(at, "Padding (batch)")
    am = _check_padding_sides(at, xviz.load_model(tiny_lm))
    assert am[1, 0] == 1 and am[1, -1] == 0  # right padding: the short sentence ends in pads


def test_decoder_mlm_uses_an_encoder_and_masks_use_decoder_tokens(tiny_lm):
    at = app_with_text_model(tiny_lm, PAGE)
    _view(at, "MLM (80/10/10)")
    assert any("causal decoder" in i.value and "minilm-l6" in i.value for i in at.info)
    assert at.dataframe[0].value["token"].iloc[0] == "[CLS]"
    _view(at, "Attention masks")
    rows = at.dataframe[0].value
    assert rows["input"].iloc[0] == "The" and rows["label (next token)"].iloc[0] == rows["input"].iloc[1]


def test_decoder_effect_causal_is_its_own_mask(tiny_lm):
    model = xviz.load_model(tiny_lm)
    at = app_with_text_model(tiny_lm, PAGE)
    _view(at, "Effect on attention")
    assert any("causal decoder" in c.value for c in at.caption)
    shown = heatmap_z(figure_titled(at, "causal: layer 0, head 0"))
    pk = A.pack(model, [s for s in at.text_area(key="mk_text").value.splitlines() if s.strip()])
    with torch.no_grad(), xviz.record(model, names="blocks.0.attn.hook_probs") as rec:
        model(input_ids=pk.input_ids)  # no mask given: the decoder's own causal mask
    np.testing.assert_allclose(shown, rec["probs", 0][0, 0].numpy(), atol=1e-6)


@pytest.mark.slow
def test_smollm2_padding_left_vs_right():
    at = app_with_text_model("smollm2-135m", PAGE)
    _view(at, "Padding (batch)")
    _check_padding_sides(at, xviz.load_model("smollm2-135m"))
    at.slider(key="mk_dec_l").set_value(29).run()
    at.slider(key="mk_dec_h").set_value(8).run()
    assert not at.exception and figure_titled(at, "left padding: layer 29, head 8")
