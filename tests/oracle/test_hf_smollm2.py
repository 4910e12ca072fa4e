"""SmolLM2-135M's real weights through the adapter against HF eager on the same folder, and the facts of
the measured facts in the README (greedy answer, IOI, an induction head)."""

import pytest
import torch

import xviz

T = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def smol(smollm2_dir):
    return xviz.load_model("smollm2-135m")


@pytest.fixture(scope="module")
def smol_eager(smollm2_dir):
    return T.LlamaForCausalLM.from_pretrained(str(smollm2_dir), attn_implementation="eager").eval()


def test_probabilities_and_logits_equal_hf_eager(smol, smol_eager):
    batch = smol.prepare("When Mary and John went to the store, John gave a drink to")
    with torch.no_grad():
        ref = smol_eager(**batch, output_attentions=True)
        with xviz.record(smol, names=["blocks.*.attn.hook_probs", "hook_logits"]) as rec:
            out = smol(**batch)
    assert smol.num_layers == 30 and rec["probs", 0].shape[1] == 9
    for i in range(30):
        assert (rec["probs", i] - ref.attentions[i]).abs().max() <= 1e-5
    assert (out.logits - ref.logits).abs().max() <= 1e-4  # 30 layers of float32 sums, vocab 49152
    p = out.logits[0, -1].softmax(-1)
    mary = smol.tokenizer(" Mary", add_special_tokens=False)["input_ids"][0]
    assert p.argmax().item() == mary and p[mary] > 0.85  # measured: " Mary" at p = 0.92


def test_kv_heads_and_rope_queries(smol):
    batch = smol.prepare("The capital of France is")
    with torch.no_grad(), xviz.record(smol, names=["blocks.0.attn.hook_*"]) as rec:
        smol(**batch)
    n = batch["input_ids"].shape[1]
    assert rec["q", 0].shape == (1, 9, n, 64) and rec["k", 0].shape == (1, 3, n, 64)
    # scores of query head h use KV head h // 3 (GQA groups of 3 consecutive heads)
    q, k = rec["q", 0][0], rec["k", 0][0]
    s = (q[4] @ k[1].T) / 8.0
    s = s.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), torch.finfo(s.dtype).min)
    assert (s - rec["scores", 0][0, 4]).abs().max() < 1e-4


def test_greedy_paris(smol):
    batch = smol.prepare("The capital of France is")
    with torch.no_grad():
        ids = smol.hf_model.generate(**batch, max_new_tokens=2, do_sample=False)
    assert smol.tokenizer.decode(ids[0, batch["input_ids"].shape[1] :]).startswith(" Paris")
