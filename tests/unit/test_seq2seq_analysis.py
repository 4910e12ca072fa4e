"""Analysis behind the Encoder–decoder page: alignment score, scheduled-sampling mix, NAT error marks, exposure
bias, BLEU (sacrebleu) — on hand-made tensors and a small random-init model."""

import pytest
import torch

from xviz.analysis import encdec as A
from xviz.data import seq2seq_tasks as T
from xviz.models.seq2seq import Seq2Seq, Seq2SeqConfig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(hidden_size=32, num_heads=2, num_layers=1, decoder_layers=1, mlp_hidden=64)).eval()


def test_alignment_matrix_and_score():
    ex = T.reverse_example("abc")
    align = A.alignment_matrix(ex, 4, 4)  # rows: <bos> c b a ; cols: <reverse> a b c
    assert align.tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    perfect = align.float().clone()
    perfect[3, 0] = 1.0  # the <eos> row has no alignment: not counted
    assert float(A.alignment_score(perfect, align)) == 1.0
    uniform = torch.full((2, 3, 4, 4), 0.25)  # (L, H, Nt, Ns)
    assert torch.allclose(A.alignment_score(uniform, align), torch.full((2, 3), 0.25))
    assert A.argmax_on_alignment(perfect, align) == 1.0


def test_scheduled_mix_keeps_bos_and_padding():
    tgt = torch.tensor([[T.BOS, 10, 11, 12, T.PAD]])
    pred = torch.tensor([[20, 21, 22, 23, 24]])
    g = torch.Generator().manual_seed(0)
    assert torch.equal(A.scheduled_mix(tgt, pred, 1.0, g), tgt)
    all_model = A.scheduled_mix(tgt, pred, 0.0, g)
    assert all_model.tolist() == [[T.BOS, 20, 21, 22, T.PAD]]  # position t gets the prediction made at t-1
    assert A.inverse_sigmoid(0, 100) == pytest.approx(100 / 101) and A.inverse_sigmoid(2000, 100) < 1e-5


def test_diff_marks_repeats_and_missing():
    assert A.diff_marks("abcd", "abcd") == {"repeats": 0, "missing": 0, "length_diff": 0}
    m = A.diff_marks("abbd", "abcd")
    assert m["repeats"] == 1 and m["missing"] == 1
    assert A.diff_marks("abd", "abcd")["missing"] == 1


def test_exposure_bias_and_mix_table(tiny):
    eb = A.exposure_bias(tiny, "abcdef", "reverse", "fedcba", 2, "x")
    assert len(eb.forced_pred) >= 0 and eb.free_run.startswith("fex")
    assert 0 <= eb.forced_errors <= 3
    mix = A.mix_table(tiny, "abc", "reverse", "cba", 0.0)
    assert mix["gold"][0] == "<bos>" and len(mix["mixed"]) == 4


def test_bleu_eval_uses_sacrebleu(tiny):
    import sacrebleu

    r = A.bleu_eval(tiny, "date", n=6)
    hyps, refs = r["AT"]["hyps"], [ex.target for ex in r["examples"]]
    assert r["AT"]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize="char").score)
    assert sacrebleu.corpus_bleu(refs, [refs], tokenize="char").score == pytest.approx(100.0)


def test_at_vs_nat_rows(tiny):
    rows = A.at_vs_nat(tiny, "abc", "reverse")
    assert rows["NAT"]["decoder passes"] == 1 and rows["AT"]["ms"] > 0 and "exact" in rows["AT"]
