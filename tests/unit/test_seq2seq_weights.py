"""The shipped `seq2seq-tiny` weights: they reproduce the accuracies written in their metadata on the fixed
held-out set, the AT model is ≥ 98 % exact on every task, and the reversal cross-attention is anti-diagonal."""

import json

import pytest
import torch

import xviz
from xviz.analysis.encdec import alignment_matrix, argmax_on_alignment, record_run
from xviz.data import seq2seq_tasks as T
from xviz.models.seq2seq import shipped_accuracies
from xviz.models.seq2seq_decode import exact_match
from xviz.pretrained.zoo import weights_file

WEIGHTS = weights_file("seq2seq-tiny")

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return xviz.load_model("seq2seq-tiny")


def test_metadata_and_curves_beside_the_weights(model):
    acc = shipped_accuracies(model)
    assert set(acc["at"]) == set(T.TASKS) and acc["n"] >= 300
    assert all(acc["at"][t] >= 0.98 for t in T.TASKS), acc
    assert WEIGHTS.with_suffix(".csv").is_file() and WEIGHTS.with_suffix(".png").is_file()
    assert WEIGHTS.stat().st_size < 10_000_000
    assert "train_seq2seq.py" in model.meta["command"] and json.loads(model.meta["config"])["hidden_size"] > 0


@pytest.mark.parametrize("task", T.TASKS)
def test_shipped_weights_reproduce_written_accuracies(model, task):
    acc = shipped_accuracies(model)
    exs = T.test_set(task, acc["n"])
    tol = 2 / acc["n"]  # batched float rounding may flip a near-tie or two
    assert exact_match(model, exs) == pytest.approx(acc["at"][task], abs=tol)
    assert exact_match(model, exs, nat=True) == pytest.approx(acc["nat"][task], abs=tol)


def test_reversal_cross_attention_is_anti_diagonal(model):
    hits = []
    for ex in T.test_set("reverse", 20, seed=99):
        run = record_run(model, ex.source, "reverse", target=ex.target)
        align = alignment_matrix(ex, len(run.tgt_tokens), len(run.src_tokens))
        L = model.cfg.decoder_layers
        best = max(
            argmax_on_alignment(run.rec[f"decoder.blocks.{i}.cross_attn.hook_probs"][0, h], align)
            for i in range(L)
            for h in range(model.cfg.num_heads)
        )
        hits.append(best)
    assert sum(hits) / len(hits) >= 0.9, hits


def test_generate_text_api(model):
    assert model.generate_text("transformers", task="reverse") == "sremrofsnart"
    assert model.generate_text("3rd of March 2021", task="date") == "2021-03-03"
    assert model.generate_text("March 3, 2021", task="date", strategy="beam", num_beams=4) == "2021-03-03"
    assert model.generate_text("Please greet Ada Lovelace warmly.", task="copy") == "Ada Lovelace"
    with xviz.record(model, names="decoder.blocks.0.cross_attn.hook_probs") as rec:
        model(**model.prepare("abc", "reverse"))
    assert rec["decoder.blocks.0.cross_attn.hook_probs"].shape[-2:] == (4, 4)  # <bos>+cba × task+abc
