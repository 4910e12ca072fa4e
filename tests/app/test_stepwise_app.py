"""Self-attention, step by step: AppTest of the page (stepper, layer/head/padding, √d metrics, bad input)."""

import torch
from helpers import app_test, figure_titles

torch.set_num_threads(1)
PAGE = "views/stepwise.py"


def test_stepper_and_checks():
    at = app_test(PAGE)
    assert not at.exception, at.exception
    assert at.title[0].value == "Self-attention, step by step"
    ok = at.success[0].value
    assert ok.startswith("17 of 23 steps are compared") and "float32 rounding" in ok
    step = at.select_slider(key="sw_step")
    assert step.value == "tok" and "Token embeddings — (N, C) = (13, 384)" in figure_titles(at)
    at.button(key="sw_next").click().run()
    assert at.select_slider(key="sw_step").value == "pos"
    at.select_slider(key="sw_step").set_value("q").run()
    assert "Queries Q = x·W_Q + b_Q — (N, C) = (13, 384)" in figure_titles(at)
    at.button(key="sw_next").click().run()
    assert at.select_slider(key="sw_step").value == "k"
    assert "Equals the recorded hook `blocks.0.attn.hook_k`" in " ".join(c.value for c in at.caption)
    at.select_slider(key="sw_step").set_value("split").run()
    assert "(N, C) = (13, 384) → (H, N, D) = (12, 13, 32)" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="sw_layer").set_value(4).run()
    at.selectbox(key="sw_head").set_value(9).run()
    at.number_input(key="sw_pad").set_value(2).run()
    assert not at.exception, at.exception
    at.select_slider(key="sw_step").set_value("mask").run()
    assert "Mask — (Nq, Nk) = (15, 15)" in figure_titles(at)
    assert "2 padded key(s) masked" in " ".join(c.value for c in at.caption)
    assert "Equals the recorded hook `blocks.4.attn.hook_scores`" in " ".join(c.value for c in at.caption)
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Var(q·k) measured", "D·Var(q)·Var(k)"]
    assert "layer 4, head 9, D = 32" in " ".join(m.value for m in at.markdown)
    assert "Variance of q·k" in figure_titles(at) and "Softmax over 16 random keys" in figure_titles(at)


def test_example_pair_and_empty_sentence():
    at = app_test(PAGE)
    at.selectbox(key="sw_example").set_value("Attention is all you need.").run()
    assert at.text_area(key="sw_text").value == "Attention is all you need."
    at.text_input(key="sw_seg").set_value("Really?").run()
    at.select_slider(key="sw_step").set_value("seg").run()
    assert not at.exception
    assert "Segment embeddings — (N, C) = (11, 384)" in figure_titles(at)
    at.text_area(key="sw_text").set_value("   ").run()
    assert not at.exception
    assert "The text is empty" in at.error[0].value
    at.text_area(key="sw_text").set_value("Back to normal.").run()
    assert not at.exception and not at.error and at.success


def test_decoder_rope_and_gqa_and_switching_back():
    from xviz.pretrained.fetch import SMOLLM2, is_fetched

    if not is_fetched(SMOLLM2.name):
        import pytest

        pytest.skip("smollm2-135m is not fetched on this machine")
    at = app_test(PAGE)
    at.selectbox(key="sw_head").set_value(11).run()
    at.select_slider(key="sw_step").set_value("ln1").run()
    at.radio(key="sw_kind").set_value("Decoder (Llama: SmolLM2)").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="sw_head").value == 0 and at.select_slider(key="sw_step").value == "tok"
    assert at.success[0].value.startswith("13 of 20 steps") and "exactly equal" in at.success[0].value
    at.selectbox(key="sw_head").set_value(7).run()
    at.select_slider(key="sw_step").set_value("gqa").run()
    caps = " ".join(c.value for c in at.caption)
    assert "Query heads [6, 7, 8] share this key and value head" in caps
    assert "GQA: head 7 reads K/V head 2" in figure_titles(at)
    at.select_slider(key="sw_step").set_value("rope_q").run()
    assert "RoPE rotates q of head 7" in figure_titles(at)
    assert "Equals the recorded hook `blocks.0.attn.hook_q`" in " ".join(c.value for c in at.caption)
    at.selectbox(key="sw_layer").set_value(25).run()
    at.radio(key="sw_kind").set_value("Encoder (BERT: MiniLM)").run()
    assert not at.exception and at.selectbox(key="sw_layer").value == 0


def test_compare_two_heads_side_by_side():
    at = app_test(PAGE)
    at.toggle(key="sw_cmp").set_value(True).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="sw_head_b").value == 1
    at.selectbox(key="sw_head_b").set_value(7).run()
    at.select_slider(key="sw_step").set_value("softmax").run()
    subs = [h.value for h in at.subheader]
    assert {"Step 14 of 23 · Softmax over keys (head 0)", "Step 14 of 23 · Softmax over keys (head 7)"} <= set(subs)
    caps = " ".join(c.value for c in at.caption)
    assert "Equals the recorded hook `blocks.0.attn.hook_probs`" in caps
    at.toggle(key="sw_cmp").set_value(False).run()
    assert "Step 14 of 23 · Softmax over keys" in [h.value for h in at.subheader]
