"""Model registry and loaders: registry names, local HF-format folders, `hf:<hub id>`. Never unpickles.

Each model file registers (a) offline registry names and (b) a loader per HF `model_type`, so this module
does not import the models (no cycles) and adding an architecture touches one file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from xviz.errors import ModelLoadError, ResourceError, XvizError


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    kind: str  # "text" | "image" | "mae" | "swin"
    description: str
    factory: Callable[[], nn.Module]
    trained: bool = True


REGISTRY: dict[str, RegistryEntry] = {}
ARCHITECTURES: dict[str, Callable[[Path], nn.Module]] = {}  # HF model_type -> loader(folder)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def register(name: str, kind: str, description: str, trained: bool = True):
    def deco(factory: Callable[[], nn.Module]):
        REGISTRY[name] = RegistryEntry(name, kind, description, factory, trained)
        return factory

    return deco


def register_architecture(*model_types: str):
    def deco(loader: Callable[[Path], nn.Module]):
        for t in model_types:
            ARCHITECTURES[t] = loader
        return loader

    return deco


def available_models(kind: str | None = None) -> list[str]:
    return [n for n, e in REGISTRY.items() if kind is None or e.kind == kind]


def load_model(
    name: str,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    device_map=None,
    backend: str = "auto",
    offload_folder: str | None = None,
) -> nn.Module:
    """Registry name, local HF-format directory, or "hf:<hub id>" → an eval-mode model with the xviz contract.

    backend: "auto" (xviz's own implementation for bert / vit / dinov2 / swin / vit_mae, the Hugging Face adapter
    for every other architecture), "xviz" or "hf". device_map (accelerate's: "auto", a dict, …) loads through the
    adapter and spreads or offloads the model over devices; the hooks record the same tensors.
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelLoadError("No model name given.")
    if backend not in ("auto", "xviz", "hf"):
        raise ModelLoadError(f"backend must be 'auto', 'xviz' or 'hf', not {backend!r}.")
    name = name.strip()
    folder = None
    if name in REGISTRY:
        model = REGISTRY[name].factory()
    elif name.startswith("hf:"):
        folder = download_from_hub(name[3:])
    elif os.path.isdir(name):
        folder = Path(name)
    else:
        known = ", ".join(sorted(REGISTRY)) or "none"
        where = " (no such folder)" if os.sep in name or name.startswith((".", "~")) else ""
        raise ModelLoadError(
            f"Unknown model {name!r}{where}. Use a registry name ({known}), a local folder with "
            "config.json + model.safetensors, or hf:<hub id>."
        )
    if folder is not None:
        model = _load_folder(folder, backend, device_map, dtype, offload_folder)
    model.name = name
    if device_map is not None:  # accelerate placed the weights; moving them would undo its dispatch
        return model.eval()
    return model.to(device=device or "cpu", dtype=dtype).eval()


def _load_folder(folder: Path, backend: str, device_map, dtype, offload_folder) -> nn.Module:
    mtype = read_config(folder).get("model_type")
    own = isinstance(mtype, str) and mtype in ARCHITECTURES
    if backend == "xviz" or (backend == "auto" and own and device_map is None):
        return load_hf_dir(folder)
    from xviz.models.hf import load_hf_model

    return load_hf_model(
        folder, device_map=device_map, dtype=dtype if device_map is not None else None, offload_folder=offload_folder
    )


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


def load_hf_dir(folder: Path) -> nn.Module:
    cfg = read_config(folder)
    mtype = cfg.get("model_type")
    if not isinstance(mtype, str) or mtype not in ARCHITECTURES:
        raise ModelLoadError(
            f"Architecture {mtype!r} in {folder} has no xviz implementation (those are: "
            f"{', '.join(sorted(ARCHITECTURES))}); load it with backend='hf'."
        )
    check_model_size(cfg, str(folder))
    try:
        return ARCHITECTURES[mtype](Path(folder))
    except XvizError:
        raise
    except Exception as err:  # a config.json / checkpoint the loader did not expect: a message, not a traceback
        raise ModelLoadError(
            f"{folder} could not be loaded as a {mtype} model ({type(err).__name__}: "
            f"{str(err)[:200]}); check its config.json and weights."
        ) from None


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
        from safetensors.torch import load_file

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


def download_from_hub(hub_id: str) -> Path:
    if not _HUB_ID.match(hub_id) or ".." in hub_id:
        raise ModelLoadError(f"{hub_id!r} is not a valid Hugging Face hub id (owner/name).")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelLoadError(
            "Loading hf:<id> needs the huggingface_hub package (pip install huggingface_hub)."
        ) from None
    try:
        path = snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.spm"])
    except Exception as err:
        raise ModelLoadError(
            f"Could not download {hub_id!r} from the Hugging Face hub ({type(err).__name__}). "
            "Offline? Use a registry model, or a local folder with config.json + "
            "model.safetensors."
        ) from None
    return Path(path)
