"""Load a Hugging Face folder (or hub id) into the adapter: safetensors only, no remote code, optional device_map."""

from __future__ import annotations

from pathlib import Path

import torch

from xviz.adapters.hf.attention import register_xviz_attention
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


def detect_kind(cfg: dict) -> str:
    archs = [a for a in cfg.get("architectures") or [] if isinstance(a, str)]
    mtype = cfg.get("model_type")
    if cfg.get("is_encoder_decoder"):
        return "seq2seq"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) or cfg.get("is_decoder"):
        return "lm"
    if mtype in _IMAGE_TYPES:
        return "image"
    if mtype in ("clip", "siglip"):
        return "multimodal"
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
    kw = dict(attn_implementation=impl, trust_remote_code=False, use_safetensors=True, local_files_only=True)
    if dtype is not None:
        kw["dtype"] = dtype
    if device_map is not None:
        kw["device_map"] = device_map
        if offload_folder is not None:
            kw["offload_folder"] = str(offload_folder)
    return auto.from_pretrained(str(folder), **kw)


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
    auto = _auto_class(kind)
    try:
        try:
            hf = _from_pretrained(auto, folder, register_xviz_attention(), device_map, dtype, offload_folder)
        except ValueError as err:
            if "attention" not in str(err).lower():
                raise
            hf = _from_pretrained(auto, folder, "eager", device_map, dtype, offload_folder)
    except XvizError:
        raise
    except Exception as err:
        raise ModelLoadError(
            f"{folder} could not be loaded by transformers ({type(err).__name__}: {str(err)[:300]})."
        ) from None
    model = HFModel(hf.eval(), _load_tokenizer(folder), kind, name or str(folder), note)
    if not model.records_attention:  # it computes attention itself (T5 today): say what is recorded
        model.note = " ".join(
            filter(
                None,
                [
                    note,
                    f"{model.model_type} computes attention itself (not through "
                    "transformers' attention interface): xviz records its residual streams "
                    "and norms, not q/k/v/scores/probs.",
                ],
            )
        )
    return model.eval()
