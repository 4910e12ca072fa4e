"""`load_model`: a zoo name, a local Hugging Face-format folder, or `hf:<hub id>` → an eval-mode model with the
xviz contract. Folders of architectures xviz implements load into its own models; every other one goes through
the Hugging Face adapter. Never unpickles."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from xviz.adapters.hf import load_hf_model
from xviz.errors import ModelLoadError
from xviz.models._checkpoint import read_config
from xviz.models._registry import ARCHITECTURES, load_own_folder
from xviz.pretrained.zoo import ZOO

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def _from_zoo(name: str) -> nn.Module:
    entry = ZOO[name]
    model = entry.factory()
    if not model.note:  # a factory may set a more specific note (dinov2-s14: its fine-tune)
        model.note = entry.note
    return model


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
    if name in ZOO:
        model = _from_zoo(name)
    elif name.startswith("hf:"):
        folder = download_from_hub(name[3:])
    elif os.path.isdir(name):
        folder = Path(name)
    else:
        known = ", ".join(sorted(ZOO)) or "none"
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
        return load_own_folder(folder)
    return load_hf_model(
        folder, device_map=device_map, dtype=dtype if device_map is not None else None, offload_folder=offload_folder
    )


def download_from_hub(hub_id: str) -> Path:
    if not _HUB_ID.match(hub_id) or ".." in hub_id:
        raise ModelLoadError(f"{hub_id!r} is not a valid Hugging Face hub id (owner/name).")
    from huggingface_hub import snapshot_download  # noqa: PLC0415  (slow import; only hf:<id> needs it)

    try:
        path = snapshot_download(hub_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.spm"])
    except Exception as err:
        raise ModelLoadError(
            f"Could not download {hub_id!r} from the Hugging Face hub ({type(err).__name__}). "
            "Offline? Use a registry model, or a local folder with config.json + "
            "model.safetensors."
        ) from None
    return Path(path)
