"""The shipped copy and monotonic models (xviz/weights/copy_*.safetensors, monotonic_*.safetensors): they load by
name, reproduce the numbers written in their metadata, the pointer copies a word no training example held while the
plain model cannot, and the checkpoint attention maps shipped beside them belong to these weights."""

import json

import pytest
import torch

import xviz
from xviz.analysis.copy_guided import diagonality, first_step_at, shipped_curve, shipped_maps
from xviz.data import copy_task, monotonic_task
from xviz.models.attn_rnn import shipped_metrics
from xviz.models.attn_rnn_decode import exact_match, predict
from xviz.pretrained.zoo import weights_file

torch.set_num_threads(1)
COPY = ("copy-plain", "copy-pointer")
MONOTONIC = ("monotonic-plain", "monotonic-guided", "monotonic-location")


class _Models(dict):
    """Zoo models by name, each loaded once, when first asked for."""

    def __missing__(self, name):
        self[name] = xviz.load_model(name)
        return self[name]


@pytest.fixture(scope="module")
def models():
    return _Models()


@pytest.mark.parametrize("name", COPY + MONOTONIC)
def test_files_and_metadata(models, name):
    m = models[name]
    assert m.kind == "rnn_seq2seq" and m.name == name and m.note
    path = weights_file(name)
    assert path.stat().st_size < 2_000_000 and path.with_suffix(".csv").is_file() and path.with_suffix(".png").is_file()
    script = "train_copy.py" if name in COPY else "train_monotonic.py"
    assert script in m.meta["command"] and f"--variant {name.split('-')[1]}" in m.meta["command"]
    assert json.loads(m.meta["config"])["hidden_size"] == m.hidden_size == 128
    assert m.cfg.pointer == (name == "copy-pointer") and m.cfg.location == (name == "monotonic-location")
    assert m.output_vocab == (copy_task if name in COPY else monotonic_task).OUTPUT_VOCAB and m.examples


@pytest.mark.parametrize("name", COPY)
def test_copy_models_reproduce_their_numbers(models, name):
    m, metrics = models[name], shipped_metrics(models[name])
    for split in ("held_out", "never_seen"):
        exs = copy_task.test_set(split, metrics["n"])
        assert exact_match(m, exs) == pytest.approx(metrics[f"exact_{split}"], abs=2 / metrics["n"])
    if name == "copy-pointer":
        assert metrics["exact_held_out"] >= 0.95 and metrics["exact_never_seen"] >= 0.95
    else:  # it learned the task (right up to <unk>) but cannot write the rare words
        assert metrics["exact_never_seen"] == 0.0 and metrics["exact_held_out"] < 0.1
        assert metrics["unk_held_out"] >= 0.95 and metrics["unk_never_seen"] >= 0.95


def test_pointer_copies_a_word_never_in_training(models):
    plain, pointer = models["copy-plain"], models["copy-pointer"]
    for source, want in [
        ("please call quixzot at 8675309", "phone quixzot 8675309"),  # 'q', 'x': no generator makes these words
        ("send 3 yggdrasil to wuxiblort", "order yggdrasil qty 3 for wuxiblort"),
    ]:
        assert all(copy_task.never_in_training(w) for w in want.split() if copy_task.is_rare(w))
        gen = pointer.generate_text(source)
        assert gen.text == want
        unk = " ".join("<unk>" if copy_task.is_rare(w) else w for w in want.split())
        assert plain.generate_text(source).text == unk
        rare_steps = [t for t, w in enumerate(gen.tokens) if copy_task.is_rare(w)]
        assert all(float(gen.p_gen[t]) < 0.2 for t in rare_steps)  # copied
        assert float(gen.p_gen[0]) > 0.8  # the command word ('phone', 'order') is never in the source: generated
        for t in rare_steps:  # the copy distribution points at the word it copies
            assert gen.source_tokens[int(gen.attention[t].argmax())] == gen.tokens[t]


@pytest.mark.parametrize("name", MONOTONIC)
def test_monotonic_models_reproduce_their_numbers(models, name):
    m, metrics = models[name], shipped_metrics(models[name])
    assert exact_match(m, monotonic_task.test_set(metrics["n"])) == pytest.approx(
        metrics["exact_held_out"], abs=2 / metrics["n"]
    )
    for k, value in metrics["exact_long"].items():
        assert exact_match(m, monotonic_task.long_set(int(k), 200)) == pytest.approx(value, abs=0.01)
    assert metrics["exact_held_out"] >= 0.95


def test_location_aware_generalises_to_longer_numbers_and_aligns_first(models):
    mp = {n: shipped_metrics(models[n]) for n in MONOTONIC}
    loc, plain = mp["monotonic-location"], mp["monotonic-plain"]
    assert loc["exact_long"]["16"] >= plain["exact_long"]["16"] + 0.2 and loc["exact_long"]["12"] >= 0.95
    assert loc["long_12"]["diagonality"] > plain["long_12"]["diagonality"]
    first = {n: first_step_at(shipped_curve(n), "diagonality", 0.9) or 10**9 for n in MONOTONIC}
    assert first["monotonic-guided"] < first["monotonic-plain"]
    assert first["monotonic-location"] < first["monotonic-plain"]
    long = predict(models["monotonic-location"], ["1234567890123456"])[0]
    assert long == monotonic_task.spell("1234567890123456")


@pytest.mark.parametrize("name", MONOTONIC)
def test_checkpoint_maps_belong_to_the_weights(models, name):
    maps, m = shipped_maps(name), models[name]
    assert maps.probes == list(monotonic_task.PROBES) and maps.steps[-1] == int(m.meta["steps"])
    assert maps.steps == sorted(maps.steps) and len(maps.steps) >= 5
    probe = "31415926"
    target = monotonic_task.spell(probe)
    with torch.no_grad(), xviz.record(m, names="decoder.cross_attn.hook_probs") as rec:
        m(**m.prepare(probe, target=target))
    now = rec["decoder.cross_attn.hook_probs"][0]  # (T + 1, N) teacher-forced
    torch.testing.assert_close(maps.get(maps.steps[-1], probe, len(target)), now, atol=2e-3, rtol=0)
    early = diagonality(maps.get(maps.steps[0], probe, len(target)))
    assert diagonality(now) > early  # the alignment formed during training
