"""The adapter at run time: context isolation across threads, interventions, KV-cache decoding, device_map with
offloading, architectures that bypass the attention interface, and refused checkpoints."""

import json
import threading

import pytest
import torch

import xviz
from xviz.adapters.hf import load_hf_model
from xviz.errors import ModelLoadError

T = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = T.LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    folder = tmp_path_factory.mktemp("llama")
    T.LlamaForCausalLM(cfg).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llama(llama_dir):
    return load_hf_model(llama_dir)


def _ids(seed, n=12):
    return torch.randint(3, 97, (1, n), generator=torch.Generator().manual_seed(seed))


def test_eight_threads_never_see_each_others_tensors(llama):
    """8 threads share one model; each records its own input and gets exactly its own probabilities."""
    inputs = [_ids(s, n=6 + s) for s in range(8)]
    with torch.no_grad():
        expected = []
        for ids in inputs:
            with xviz.record(llama, names="*hook_probs") as rec:
                llama(input_ids=ids)
            expected.append(rec["probs", 2])
    got, errors = [None] * 8, []

    def work(i):
        try:
            for _ in range(5):
                with torch.no_grad(), xviz.record(llama, names="*hook_probs") as rec:
                    llama(input_ids=inputs[i])
                assert torch.equal(rec["probs", 2], expected[i]) and len(rec) == 3
            got[i] = True
        except Exception as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(got)


def test_nothing_recorded_outside_a_record_block(llama):
    with torch.no_grad(), xviz.record(llama, names="*hook_probs") as rec:
        llama(input_ids=_ids(1))
    n = len(rec)
    with torch.no_grad():
        llama(input_ids=_ids(2))
    assert len(rec) == n


def test_zero_ablation_changes_only_that_head(llama):
    ids = _ids(3)
    name = "blocks.1.attn.hook_z"

    def zero_head_2(z):  # (B, H, N, D)
        return z.index_fill(1, torch.tensor([2]), 0.0)

    with torch.no_grad():
        with xviz.record(llama, names=[name, "hook_logits"]) as base:
            llama(input_ids=ids)
        with xviz.record(llama, names=[name, "hook_logits"], edits={}) as same:
            llama(input_ids=ids)
        with xviz.record(llama, names=[name, "hook_logits"], edits={name: zero_head_2}) as abl:
            llama(input_ids=ids)
    assert torch.equal(same["hook_logits"], base["hook_logits"])  # ablating nothing changes nothing
    z0, z1 = base[name], abl[name]
    assert z1[:, 2].abs().max() == 0 and torch.equal(z1[:, [0, 1, 3]], z0[:, [0, 1, 3]])
    assert (abl["hook_logits"] - base["hook_logits"]).abs().max() > 1e-4
    with pytest.raises(KeyError):
        with xviz.record(llama, edits={"blocks.9.attn.hook_z": zero_head_2}):
            pass


def test_kv_cache_step_records_one_query_row(llama):
    """With a KV cache the new token's q is (B, H, 1, D) and k grows to t; the row equals the full forward's."""
    ids = _ids(4, n=9)
    with torch.no_grad():
        with xviz.record(llama, names="*hook_probs") as full:
            llama(input_ids=ids)
        out = llama(input_ids=ids[:, :8], use_cache=True)
        with xviz.record(llama, names=["*hook_probs", "*hook_k"]) as step:
            llama(input_ids=ids[:, 8:], past_key_values=out.past_key_values, use_cache=True)
    assert step["probs", 0].shape == (1, 4, 1, 9) and step["k", 0].shape == (1, 2, 9, 8)
    assert (step["probs", 2][0, :, 0] - full["probs", 2][0, :, 8]).abs().max() < 1e-5


def test_device_map_with_offloading_records_the_same(llama_dir, llama, tmp_path):
    """accelerate offloads two blocks to disk; the recording equals the plain model's."""
    dm = {
        "model.embed_tokens": "cpu",
        "model.layers.0": "cpu",
        "model.layers.1": "disk",
        "model.layers.2": "disk",
        "model.norm": "cpu",
        "model.rotary_emb": "cpu",
        "lm_head": "cpu",
    }
    off = xviz.load_model(str(llama_dir), device_map=dm, offload_folder=str(tmp_path / "off"))
    assert any(p.device.type == "meta" for p in off.hf_model.parameters())  # really offloaded
    ids = _ids(5)
    with torch.no_grad():
        with xviz.record(llama) as a:
            llama(input_ids=ids)
        with xviz.record(off) as b:
            off(input_ids=ids)
    assert set(a) == set(b)
    for k in a:
        assert (a[k] - b[k]).abs().max() <= 1e-5, k


def test_t5_relative_bias_self_and_cross_attention(tmp_path):
    """T5 (relative position bias passed to the attention function) against HF eager."""
    torch.manual_seed(0)
    cfg = T.T5Config(vocab_size=97, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0)
    T.T5ForConditionalGeneration(cfg).save_pretrained(tmp_path)
    model = load_hf_model(tmp_path)
    assert model.records_attention
    ref = T.T5ForConditionalGeneration.from_pretrained(tmp_path, attn_implementation="eager").eval()
    ids, dec = _ids(6, n=7), _ids(7, n=4)
    with torch.no_grad():
        r = ref(input_ids=ids, decoder_input_ids=dec, output_attentions=True)
        with xviz.record(model) as rec:
            out = model(input_ids=ids, decoder_input_ids=dec)
    for i in range(2):
        assert (rec[f"encoder.blocks.{i}.attn.hook_probs"] - r.encoder_attentions[i]).abs().max() <= 1e-5
        assert (rec[f"decoder.blocks.{i}.attn.hook_probs"] - r.decoder_attentions[i]).abs().max() <= 1e-5
        assert (rec[f"decoder.blocks.{i}.cross_attn.hook_probs"] - r.cross_attentions[i]).abs().max() <= 1e-5
    assert (out.logits - r.logits).abs().max() <= 1e-5
    assert "decoder.blocks.1.norm2.hook_in" in rec


def test_an_architecture_that_bypasses_the_interface_says_so(llama_dir, monkeypatch):
    """When attention does not go through the interface, no attention hook is offered: never wrong tensors."""
    from xviz.adapters.hf import model as hf

    monkeypatch.setattr(hf, "uses_attention_interface", lambda specs: False)
    model = load_hf_model(llama_dir)
    assert "computes attention itself" in model.note and "residual" in model.note
    assert not any(".attn." in n for n in model.hook_names())
    assert "blocks.0.hook_resid_post" in model.hook_names()


def test_pickle_checkpoints_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelLoadError, match="pickle"):
        xviz.load_model(str(tmp_path))


def test_unsupported_architecture_is_a_clear_message(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="unknown to transformers"):
        xviz.load_model(str(tmp_path))


def test_fused_idle_path_is_used_when_nothing_is_recorded(llama, monkeypatch):
    from xviz.adapters.hf import attention as hf_attention

    calls = []
    real = hf_attention.hooked_eager_attention
    monkeypatch.setattr(hf_attention, "hooked_eager_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        llama(input_ids=_ids(7))
        assert calls == []
        with xviz.record(llama, names="*hook_z"):
            llama(input_ids=_ids(7))
        assert calls == []  # z needs no explicit softmax
        with xviz.record(llama, names="blocks.0.attn.hook_probs"):
            llama(input_ids=_ids(7))
        assert calls == [1]  # only the layer whose probabilities were asked for
