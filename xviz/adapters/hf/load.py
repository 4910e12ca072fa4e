"""Load a Hugging Face folder (or hub id) into the adapter: safetensors only, no remote code, optional device_map."""

from __future__ import annotations

from pathlib import Path

import torch

from xviz.adapters.hf.attention import register_xviz_attention
from xviz.adapters.hf.clip import HFClipModel
from xviz.adapters.hf.image import read_image_prep, vision_config
from xviz.adapters.hf.model import HFModel
from xviz.errors import ModelLoadError, XvizError
from xviz.models._checkpoint import check_model_size, read_config

# model_types whose main input is an image (their towers load with AutoModel)
_IMAGE_TYPES = {
    "vit",
    "deit",
    "dinov2",
    "dinov2_with_registers",
    "clip_vision_model",
    "siglip_vision_model",
    "vit_mae",
    "beit",
    "swin",
}
_CLIP_TYPES = ("clip", "siglip")  # two towers: kind "clip"
_TOWERS = {"vision_model.": "vision", "visual_projection.": "vision", "text_model.": "text", "text_projection.": "text"}


def detect_kind(cfg: dict) -> str:
    archs = [a for a in cfg.get("architectures") or [] if isinstance(a, str)]
    mtype = cfg.get("model_type")
    if cfg.get("is_encoder_decoder"):
        return "seq2seq"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) or cfg.get("is_decoder"):
        return "lm"
    if mtype in _IMAGE_TYPES:
        return "image"
    if mtype in _CLIP_TYPES:
        return "clip"
    return "text"


def _auto_class(kind: str):
    import transformers  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)

    return {"lm": transformers.AutoModelForCausalLM, "seq2seq": transformers.AutoModelForSeq2SeqLM}.get(
        kind, transformers.AutoModel
    )


def _check_weights(folder: Path) -> None:
    if not any(folder.glob("*.safetensors")):
        pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        if pickled:
            raise ModelLoadError(
                f"{folder} holds only pickle checkpoints ({', '.join(pickled[:2])}); a pickle can "
                "run code when loaded, so xviz refuses it. Convert it to safetensors first."
            )
        raise ModelLoadError(f"{folder} has no *.safetensors weights.")


def _from_pretrained(auto, folder: Path, impl: str, device_map, dtype, offload_folder):
    """→ (model, loading info with its missing_keys)."""
    kw = dict(
        attn_implementation=impl,
        trust_remote_code=False,
        use_safetensors=True,
        local_files_only=True,
        output_loading_info=True,
    )
    if dtype is not None:
        kw["dtype"] = dtype
    if device_map is not None:
        kw["device_map"] = device_map
        if offload_folder is not None:
            kw["offload_folder"] = str(offload_folder)
    return auto.from_pretrained(str(folder), **kw)


def _check_towers(folder: Path, kind: str, missing: list[str]) -> None:
    """A CLIP folder whose weights lack a whole tower would load with random weights there: refuse it."""
    if kind != "clip":
        return
    gone = sorted({_TOWERS[p] for k in missing for p in _TOWERS if k.startswith(p)})
    if gone:
        raise ModelLoadError(
            f"{folder} has no weights for its {' and '.join(gone)} tower ({len(missing)} tensors missing from its "
            "safetensors): a CLIP model needs both towers. Save the whole model (CLIPModel / SiglipModel)."
        )


def _image_prep(folder: Path, kind: str, config):
    """The checkpoint's image preprocessing (kind "image" / "clip"), None for text models."""
    if kind not in ("image", "clip"):
        return None
    size = getattr(vision_config(config), "image_size", None)
    size = size[0] if isinstance(size, (list, tuple)) else size
    return read_image_prep(folder, config.model_type, size if isinstance(size, int) else None)


def _load_tokenizer(folder: Path):
    if not any(
        (folder / f).is_file()
        for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt", "spiece.model", "source.spm")
    ):
        return None
    from transformers import AutoTokenizer  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)

    try:
        return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False, local_files_only=True)
    except Exception:  # a model without a usable tokenizer still records from input_ids
        return None


def load_hf_model(
    folder: Path | str,
    device_map=None,
    dtype: torch.dtype | None = None,
    name: str = "",
    note: str | None = None,
    offload_folder: Path | str | None = None,
):
    """An HF-format folder → HFModel (eval mode). `device_map` (accelerate: "auto", a dict, …) spreads or
    offloads a model larger than one device; the hooks record the same tensors either way."""
    folder = Path(folder)
    cfg = read_config(folder)
    from transformers import CONFIG_MAPPING  # noqa: PLC0415  (transformers takes seconds to import; only the adapter's load path needs it)

    if not isinstance(cfg.get("model_type"), str) or cfg["model_type"] not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"Architecture {cfg.get('model_type')!r} in {folder} is unknown to transformers (remote code is never run)."
        )
    check_model_size(cfg, str(folder))
    _check_weights(folder)
    kind = detect_kind(cfg)
    hf, info = _load_weights(_auto_class(kind), folder, device_map, dtype, offload_folder)
    _check_towers(folder, kind, list(info.get("missing_keys") or []))
    if cfg["model_type"] == "vit_mae":  # the attention pages show every patch: no random masking (image.py)
        hf.config.mask_ratio = 0.0
        note = _join(note, "Loaded with mask_ratio 0: the encoder sees every patch, in order.")
    cls = HFClipModel if kind == "clip" else HFModel
    model = cls(
        hf.eval(), _load_tokenizer(folder), kind, name or str(folder), note, _image_prep(folder, kind, hf.config)
    )
    if not model.records_attention:  # it computes attention itself (T5 today): say what is recorded
        model.note = _join(
            note,
            f"{model.model_type} computes attention itself (not through transformers' attention interface): xviz "
            "records its residual streams and norms, not q/k/v/scores/probs.",
        )
    return model.eval()


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _load_weights(auto, folder: Path, device_map, dtype, offload_folder):
    """transformers' from_pretrained with xviz's attention (eager when the architecture refuses it) → (model,
    loading info); any failure of transformers becomes a ModelLoadError."""
    try:
        try:
            return _from_pretrained(auto, folder, register_xviz_attention(), device_map, dtype, offload_folder)
        except ValueError as err:
            if "attention" not in str(err).lower():
                raise
            return _from_pretrained(auto, folder, "eager", device_map, dtype, offload_folder)
    except XvizError:
        raise
    except Exception as err:
        raise ModelLoadError(
            f"{folder} could not be loaded by transformers ({type(err).__name__}: {str(err)[:300]})."
        ) from None
