"""Reading checkpoints for xviz's own models: config.json, safetensors (or a weights-only torch file), key
conversion helpers. Never unpickles: `torch.load(weights_only=True)` is the most it does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from xviz.errors import ModelLoadError, ResourceError


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder} has no config.json: not a Hugging Face-format model folder.")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path} is not valid JSON ({err}).") from None
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{path} does not hold a JSON object.")
    return cfg


MAX_PARAMS = 2_000_000_000  # 8 GB of float32 weights: refuse before allocating anything


def estimate_params(cfg: dict) -> int:
    """Rough parameter count from the usual HF config keys (embedding + per-layer attention and MLP)."""

    def num(key, default=0):
        v = cfg.get(key, default)
        return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default

    width = num("hidden_size") or num("embed_dim")
    depths = cfg.get("depths")
    layers = sum(d for d in depths if isinstance(d, int)) if isinstance(depths, list) else num("num_hidden_layers")
    ffn = num("intermediate_size", 4 * width)
    return num("vocab_size") * width + layers * (4 * width * width + 2 * width * ffn)


def check_model_size(cfg: dict, source: str, limit: int = MAX_PARAMS) -> None:
    n = estimate_params(cfg)
    if n > limit:
        raise ResourceError(
            f"{source} declares a model of about {n / 1e9:.1f} billion parameters "
            f"(~{4 * n / 2**30:.0f} GiB in float32); the limit here is {limit / 1e9:.0f} billion."
        )


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """model.safetensors (preferred) or pytorch_model.bin via torch.load(weights_only=True): code never runs."""
    folder = Path(folder)
    st = sorted(folder.glob("*.safetensors"))
    if st:
        sd: dict[str, torch.Tensor] = {}
        for f in st:
            try:
                sd.update(load_file(str(f)))
            except Exception as err:  # corrupt / truncated file
                raise ModelLoadError(f"Could not read {f.name}: {err}") from None
        return sd
    binf = folder / "pytorch_model.bin"
    if binf.is_file():
        try:
            sd = torch.load(binf, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ModelLoadError(
                f"Refused to load {binf.name}: it is not a plain tensor checkpoint "
                f"(weights_only loading failed: {type(err).__name__})."
            ) from None
        if not isinstance(sd, dict):
            raise ModelLoadError(f"{binf.name} does not hold a state dict.")
        return sd
    raise ModelLoadError(f"{folder} has no model.safetensors or pytorch_model.bin.")


def strip_prefix(sd: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        for p in prefixes:
            if k.startswith(p):
                k = k[len(p) :]
                break
        out[k] = v
    return out


def load_converted(model: nn.Module, sd: dict[str, torch.Tensor], source: str) -> nn.Module:
    """load_state_dict with a user-readable error on missing / mismatched weights."""
    try:
        missing, unexpected = model.load_state_dict(sd, strict=False)
    except RuntimeError as err:
        raise ModelLoadError(f"Weights in {source} do not fit the architecture: {str(err)[:400]}") from None
    if missing:
        raise ModelLoadError(
            f"Weights in {source} lack {len(missing)} tensors, e.g. {missing[:3]}: "
            "wrong architecture or incomplete checkpoint."
        )
    return model


# ---- xviz's own weight files: safetensors with the model's config (JSON) and training facts in the metadata ----
def save_with_config(model: nn.Module, path: Path, meta: dict) -> None:
    """Weights + metadata (`config` and any training facts; non-strings stored as JSON) in one safetensors file."""
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})


def read_file_meta(path: Path, what: str) -> dict[str, str]:
    """The metadata of an xviz weight file; a clear error when it is missing or carries no config."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: the bundled {what} weights were not installed with xviz.")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ModelLoadError(f"{path.name} has no xviz {what} config in its metadata.")
    return meta


def load_with_config(path: Path, what: str, build: Callable[[dict], nn.Module]) -> tuple[nn.Module, dict[str, str]]:
    """An xviz weight file → (model built from its config by `build`, with the weights loaded; the metadata)."""
    meta = read_file_meta(path, what)
    model = build(json.loads(meta["config"]))
    model.load_state_dict(load_file(str(path)))
    return model, meta
