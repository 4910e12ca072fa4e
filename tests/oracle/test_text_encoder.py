"""MiniLM and BERT-family loading: parity with transformers.BertModel (eager) on the same weights."""

import pickle

import pytest
import torch

import xviz
from xviz.errors import InputError, ModelLoadError

SENTENCES = [
    "The cat sat on the mat.",
    "Transformers attend to every token at once, which is why they scale.",
    "Émoji 🙂, 中文字符 and עברית in one line.",
]


@pytest.fixture(scope="module")
def hf_minilm(minilm_dir):
    from transformers import BertModel

    return BertModel.from_pretrained(str(minilm_dir), attn_implementation="eager").eval()


def _compare(minilm, hf, items):
    batch = minilm.prepare(items)
    with torch.no_grad(), xviz.record(minilm, names="*.attn.hook_probs") as rec:
        out = minilm(**batch)
        ref = hf(**batch, output_attentions=True)
    mask = batch["attention_mask"].bool()
    torch.testing.assert_close(out.last_hidden_state[mask], ref.last_hidden_state[mask], atol=1e-5, rtol=1e-5)
    for i, a in enumerate(ref.attentions):
        torch.testing.assert_close(rec["probs", i], a, atol=1e-5, rtol=1e-5)
    return batch


@pytest.mark.parametrize("text", SENTENCES)
def test_parity_single_sentences(minilm, hf_minilm, text):
    _compare(minilm, hf_minilm, text)


def test_parity_sentence_pair(minilm, hf_minilm):
    batch = _compare(minilm, hf_minilm, ("Where is the cat?", "It is on the mat."))
    assert batch["token_type_ids"][0].tolist().count(1) == len(batch.tokens[0]) - batch.tokens[0].index("[SEP]") - 1


def test_parity_padded_batch(minilm, hf_minilm):
    batch = _compare(minilm, hf_minilm, SENTENCES)
    assert batch["attention_mask"].sum(1).tolist() == [len([t for t in toks if t != "[PAD]"]) for toks in batch.tokens]


def test_tokenizer_has_no_fixed_padding_and_truncates_with_flag(minilm):
    b = minilm.prepare("short")
    assert b["input_ids"].shape[1] == 3 and b.tokens[0] == ["[CLS]", "short", "[SEP]"]
    long = minilm.prepare("word " * 700)
    assert long.truncated and long["input_ids"].shape[1] == 512 and long.tokens[0][-1] == "[SEP]"
    assert not b.truncated


@pytest.mark.parametrize("bad", ["", "   \n\t ", "\x00\x01"])
def test_empty_text_is_refused_with_message(minilm, bad):
    with pytest.raises(InputError, match="empty"):
        minilm.prepare(bad)


def test_literal_text_survives_tokenisation(minilm):
    toks = minilm.prepare("<b>bold</b> <script>alert(1)</script>").tokens[0]
    assert "<" in toks and "script" in toks  # markup is just text


def _tiny_bert(tmp_path):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        hidden_act="gelu",
    )
    torch.manual_seed(1)  # test-local
    model = BertModel(cfg).eval()
    model.save_pretrained(tmp_path)
    return BertModel.from_pretrained(tmp_path, attn_implementation="eager").eval()


def test_local_hf_folder_loads_with_parity(tmp_path):
    ref = _tiny_bert(tmp_path)
    model = xviz.load_model(str(tmp_path))
    ids = torch.tensor([[2, 17, 50, 99, 3, 0]])
    am = torch.tensor([[1, 1, 1, 1, 1, 0]])
    with torch.no_grad(), xviz.record(model, names="*.hook_probs") as rec:
        out = model(input_ids=ids, attention_mask=am)
        r = ref(input_ids=ids, attention_mask=am, output_attentions=True)
    torch.testing.assert_close(out.last_hidden_state[:, :5], r.last_hidden_state[:, :5], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rec["probs", 1], r.attentions[1], atol=1e-5, rtol=1e-5)


class _Evil:
    def __reduce__(self):
        return (exec, ("open('/tmp/xviz_pwned', 'w').write('x')",))


def test_malicious_pickle_checkpoint_is_refused(tmp_path):
    _tiny_bert(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    import os

    with pytest.raises(ModelLoadError, match="Refused"):
        xviz.load_model(str(tmp_path))
    assert not os.path.exists("/tmp/xviz_pwned")


@pytest.mark.parametrize(
    "name,match",
    [
        ("no-such-model", "Unknown model"),
        ("hf:../../etc", "not a valid"),
        ("hf:someone/some-model", "Could not download"),
        ("", "No model"),
    ],
)
def test_bad_model_names_give_messages(name, match):
    with pytest.raises(ModelLoadError, match=match):
        xviz.load_model(name)


def test_wrong_architecture_folder(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "not-a-transformer"}')
    with pytest.raises(ModelLoadError, match="unknown to transformers"):
        xviz.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')  # the adapter's, but no weights
    with pytest.raises(ModelLoadError, match="no .*safetensors"):
        xviz.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text("not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        xviz.load_model(str(tmp_path))


def test_streamlit_stays_at_the_edge():
    import subprocess
    import sys

    code = (
        "import sys, xviz, xviz.models, xviz.plots, xviz.layers.attention, xviz.analysis.text_run; "
        "import xviz.plots.attention; print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_oversized_config_is_refused_before_allocation(tmp_path):
    from xviz.errors import ResourceError

    (tmp_path / "config.json").write_text(
        '{"model_type": "bert", "vocab_size": 30522, "hidden_size": 65536, "num_hidden_layers": 1000, '
        '"num_attention_heads": 64, "intermediate_size": 262144, "max_position_embeddings": 512}'
    )
    with pytest.raises(ResourceError, match="billion parameters"):
        xviz.load_model(str(tmp_path))


def test_parameter_estimate_is_close_for_minilm(minilm_dir):
    import json

    from xviz.models._checkpoint import estimate_params

    cfg = json.loads((minilm_dir / "config.json").read_text())
    real = sum(p.numel() for p in xviz.load_model("minilm-l6").parameters())
    assert abs(estimate_params(cfg) - real) / real < 0.05
