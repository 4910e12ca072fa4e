"""The copy mechanism and guided attention, as formulas and on freshly built models (no shipped weights): the
pointer's final distribution, the guided-attention weights and loss, the diagonality score, location-aware
attention, the hooks, the task generators and their bad-input messages."""

import math
import random

import pytest
import torch

import xviz
from xviz.analysis.copy_guided import (
    alignment_accuracy,
    diagonality,
    first_step_at,
    guided_loss,
    guided_weights,
    pointer_steps,
    unk_match,
)
from xviz.data import copy_task, monotonic_task
from xviz.errors import InputError
from xviz.models.attn_rnn import AttnRNNSeq2Seq, config_for, pointer_mix

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def pointer():
    torch.manual_seed(0)
    return AttnRNNSeq2Seq(config_for("copy", pointer=True)).eval()


# ---- the pointer-generator's final distribution (See et al. 2017 eq. 9) -----------------------------------------
def test_pointer_mix_equals_the_formula_and_sums_to_one():
    g = torch.Generator().manual_seed(0)
    V, Ns, n_ext = 6, 5, 2
    p_vocab = torch.softmax(torch.randn(3, V, generator=g), -1)
    attn = torch.softmax(torch.randn(3, Ns, generator=g), -1)
    p_gen = torch.rand(3, generator=g)
    src_ext = torch.tensor([[4, 6, 4, 7, 1], [6, 6, 6, 6, 6], [0, 1, 2, 3, 5]])  # repeats, OOV ids 6 and 7
    got = pointer_mix(p_vocab, attn, p_gen, src_ext, n_ext)
    assert got.shape == (3, V + n_ext)
    torch.testing.assert_close(got.sum(-1), torch.ones(3))
    for b in range(3):
        for w in range(V + n_ext):
            gen = float(p_gen[b]) * (float(p_vocab[b, w]) if w < V else 0.0)
            copy = (1 - float(p_gen[b])) * sum(float(attn[b, i]) for i in range(Ns) if int(src_ext[b, i]) == w)
            assert float(got[b, w]) == pytest.approx(gen + copy, abs=1e-6)
    assert float(got[1, 6]) == pytest.approx(1 - float(p_gen[1]), abs=1e-6)  # all source positions hold word 6


def test_model_final_distribution_is_the_mix(pointer):
    words = "send 4417 vapimo to rukasi".split()
    target = "order vapimo qty 4417 for rukasi".split()
    b = pointer.encode_batch([words], [target])
    # every source word outside the output vocabulary gets an extended id, in order of appearance
    assert b["oov"] == [["send", "4417", "vapimo", "to", "rukasi"]] and b["n_ext"] == 5
    V = len(copy_task.OUTPUT_VOCAB)
    with torch.no_grad():
        out = pointer(b["src_ids"], b["src_mask"], b["tgt_ids"], b["src_ext"], b["n_ext"])
    assert out.final.shape == (1, 7, V + 5)
    torch.testing.assert_close(out.final.sum(-1), torch.ones(1, 7))
    p_vocab = torch.softmax(out.logits, -1)[0]  # (Nt, V)
    buy = copy_task.OUTPUT_VOCAB.index("buy")  # not in this source: generated only
    for t in range(7):
        pg, a = float(out.p_gen[0, t]), out.attention[0, t]
        assert float(out.final[0, t, V + 2]) == pytest.approx((1 - pg) * float(a[2]), abs=1e-6)  # vapimo, position 2
        assert float(out.final[0, t, buy]) == pytest.approx(pg * float(p_vocab[t, buy]), abs=1e-6)
    v = copy_task.OUTPUT_VOCAB.index
    assert b["tgt_out"][0].tolist() == [v("order"), V + 2, v("qty"), V + 1, v("for"), V + 4, copy_task.EOS]
    assert b["tgt_ids"][0].tolist() == [copy_task.BOS, v("order"), copy_task.UNK, v("qty"), copy_task.UNK, v("for"), 3]
    plain = AttnRNNSeq2Seq(config_for("copy"))
    pb = plain.encode_batch([words], [target])
    assert pb["tgt_out"][0].tolist() == [v("order"), 3, v("qty"), 3, v("for"), 3, copy_task.EOS]  # <unk> = 3


def test_generation_trace_is_consistent(pointer):
    gen = pointer.generate_text("call zubeko at 4417")
    n = len(gen.tokens) + gen.finished
    assert gen.attention.shape == (n, 4) and gen.p_gen.shape == (n,) and gen.final.shape[0] == n
    torch.testing.assert_close(gen.final.sum(-1), torch.ones(n))
    assert gen.encoder_tokens == ["call", "<unk>", "at", "<unk>"]
    assert gen.ext_vocab[-4:] == ["call", "zubeko", "at", "4417"]  # the source words outside the output vocabulary
    steps = pointer_steps(gen)
    assert [s.token for s in steps] == gen.tokens + (["<eos>"] if gen.finished else [])
    assert all(0 <= s.from_copy <= 1 and s.final_top[0][1] >= s.final_top[-1][1] for s in steps)
    # the hooks record what generation computed (teacher forcing on the generated output)
    with xviz.record(pointer, names=["decoder.cross_attn.hook_probs", "decoder.hook_p_gen"]) as rec:
        pointer(**pointer.prepare("call zubeko at 4417"))
    torch.testing.assert_close(rec["decoder.cross_attn.hook_probs"][0, :n], gen.attention)
    torch.testing.assert_close(rec["decoder.hook_p_gen"][0, :n], gen.p_gen)


# ---- guided attention (Tachibana et al. 2017) -------------------------------------------------------------------
def test_guided_weights_and_loss_on_a_hand_case():
    W = guided_weights(2, 2, g=0.5)  # n/N, t/T ∈ {0, 0.5}: W = 0 on the diagonal, 1 − e^(−0.25/0.5) off it
    off = 1 - math.exp(-0.5)
    torch.testing.assert_close(W, torch.tensor([[0.0, off], [off, 0.0]]))
    A = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    want = (0.3 * off + 0.2 * off) / 4  # mean over the 4 entries of A ⊙ W
    got = guided_loss(A[None], torch.tensor([2]), torch.tensor([2]), g=0.5)
    assert float(got) == pytest.approx(want, abs=1e-7)
    # padding never counts: the same example padded to (3, 4) beside another gives the mean over real entries
    padded = torch.zeros(2, 3, 4)
    padded[0, :2, :2] = A
    padded[1] = torch.full((3, 4), 0.25)
    W1 = guided_weights(4, 3, g=0.5)
    both = guided_loss(padded, torch.tensor([2, 4]), torch.tensor([2, 3]), g=0.5)
    assert float(both) == pytest.approx(float((A * W).sum() + (0.25 * W1).sum()) / (4 + 12), abs=1e-6)


def test_diagonality_and_alignment_accuracy():
    assert diagonality(torch.eye(7)) == pytest.approx(1.0)
    assert diagonality(torch.eye(1)) == pytest.approx(1.0)
    assert diagonality(torch.eye(6).flip(1)) < 0.4  # the anti-diagonal
    band = sum(min(i + 1, 7) - max(i - 1, 0) + 1 for i in range(8))  # positions within one of the diagonal
    assert diagonality(torch.full((8, 8), 1 / 8)) == pytest.approx(band / 64)
    ex = monotonic_task.Example("31415926", monotonic_task.spell("31415926"))
    al = ex.alignment()
    true = torch.nn.functional.one_hot(torch.tensor(al), 8).float()  # (T, N) the true staircase
    assert len(al) == len(ex.target) + 1 and diagonality(true) >= 0.95
    assert alignment_accuracy(true, al) == 1.0
    assert alignment_accuracy(torch.roll(true, 1, dims=1), al) < 0.2
    assert first_step_at({"step": [10, 20, 30], "d": [0.5, 0.95, 0.99]}, "d", 0.9) == 20
    assert first_step_at({"step": [10], "d": [0.5]}, "d", 0.9) is None


def test_location_aware_attention_reads_the_previous_step():
    torch.manual_seed(0)
    for location in (False, True):
        m = AttnRNNSeq2Seq(config_for("monotonic", location=location)).eval()
        b = m.encode_batch([list("30517")])
        mem = m.encoder(b["src_ids"], b["src_mask"])
        keys, s = m.decoder.cross_attn.w_h(mem), torch.randn(1, m.cfg.hidden_size)
        prev = [torch.eye(5)[i][None] for i in (0, 3)]
        e = [m.decoder.cross_attn.energies(s, keys, p, b["src_mask"]) for p in prev]
        assert torch.equal(e[0], e[1]) != location  # only the location-aware model depends on a_{t−1}
        names = m.hook_names()
        assert "decoder.cross_attn.hook_probs" in names and ("decoder.hook_p_gen" in names) is False


# ---- data: deterministic, splits disjoint, bad input refused -----------------------------------------------------
def test_tasks_are_deterministic_and_never_seen_words_stay_out_of_training():
    assert copy_task.test_set("never_seen", 5) == copy_task.test_set("never_seen", 5)
    assert monotonic_task.test_set(5) == monotonic_task.test_set(5)
    rng = random.Random(0)
    train = [copy_task.sample(rng, "train") for _ in range(3000)]
    rare = {w for e in train for w in e.target.split() if copy_task.is_rare(w)}
    assert rare and not any(copy_task.never_seen_pool(w) for w in rare)
    assert not any(copy_task.held_out(e.source) for e in train)
    unseen = [w for e in copy_task.test_set("never_seen", 300) for w in e.target.split() if copy_task.is_rare(w)]
    assert unseen and all(copy_task.never_in_training(w) for w in unseen) and not rare & set(unseen)
    assert all(copy_task.reference(e.source.split()) == e.target for e in train[:300])
    assert {len(e.source) for e in monotonic_task.long_set(12, 20)} == {12}
    assert unk_match("phone <unk> <unk>", "phone zubeko 4417", copy_task.OUTPUT_VOCAB)
    assert not unk_match("phone <unk>", "phone zubeko 4417", copy_task.OUTPUT_VOCAB)


@pytest.mark.parametrize(
    "task, text, message",
    [
        ("copy", "", "empty"),
        ("copy", "   ", "empty"),
        ("copy", "call zubeko at 44€17", "a–z and 0–9 only"),
        ("copy", "call zübeko at 4417", "a–z and 0–9 only"),
        ("copy", "call " + "zubeko " * 16, "at most 16"),
        ("copy", "call " + "z" * 30, "longer than 24 characters"),
        ("copy", "hello there friend", "None of these words belongs to the task"),
        ("monotonic", "", "empty"),
        ("monotonic", "12a4", "digits 0–9 only"),
        ("monotonic", "3.14", "digits 0–9 only"),
        ("monotonic", "1" * 25, "at most 24"),
    ],
)
def test_bad_inputs_give_clear_messages(task, text, message):
    torch.manual_seed(0)
    model = AttnRNNSeq2Seq(config_for(task))
    with pytest.raises(InputError, match=message):
        model.generate_text(text)
    with pytest.raises(InputError, match=message):
        model.prepare(text)
