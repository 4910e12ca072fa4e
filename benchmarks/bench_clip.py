"""CLIP through the adapter vs plain transformers, measured in one run (interleaved, medians):

1. zero-shot, 1 image × 20 labels, from a PIL image and strings to probabilities: `model.zero_shot` vs the HF
   way (CLIPImageProcessor + tokenizer + CLIPModel, softmax of logits_per_image), on the same random-init
   ViT-B/32-shaped CLIP folder (default CLIPConfig, a WordLevel tokenizer saved with it);
2. the Attention page's image recording (`xviz.analysis.image_run.IMAGE_HOOKS`: probabilities and residual
   streams of every block) on an adapter ViT-B/16-shaped model (default ViTConfig, random weights, loaded with
   backend="hf") vs HF eager with output_attentions=True on the same folder and pixels.

    python benchmarks/bench_clip.py [--device cuda] [--repeats 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import bench  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import xviz  # noqa: E402
from xviz.analysis.image_run import IMAGE_HOOKS  # noqa: E402
from xviz.samples import load_sample  # noqa: E402

LABELS = [
    f"{c} {s}" for c in ("red", "green", "blue", "yellow", "purple") for s in ("circle", "square", "triangle", "cat")
]  # 20 labels


def _tokenizer():
    """A lower-casing WordLevel tokenizer over the label words, CLIP's special tokens at 49406 / 49407."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for lab in LABELS for w in lab.split()})
    specials = {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}, **specials}, "[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=list(specials.items())
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|endoftext|>", pad_token="<|endoftext|>"
    )


def zero_shot_row(folder: str, device: torch.device, repeats: int) -> dict:
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    torch.manual_seed(0)
    CLIPModel(CLIPConfig()).save_pretrained(folder)
    tok = _tokenizer()
    tok.save_pretrained(folder)
    xm = xviz.load_model(folder, device=device)
    hf = CLIPModel.from_pretrained(folder).to(device).eval()
    proc, img = CLIPImageProcessorPil(), load_sample("chelsea")

    def hf_zero_shot():
        enc = tok(LABELS, padding=True, return_tensors="pt").to(device)
        pv = torch.as_tensor(proc(img, return_tensors="pt")["pixel_values"]).to(device)
        return hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], pixel_values=pv).logits_per_image

    with torch.no_grad():
        t = bench(
            {"hf": lambda: hf_zero_shot().softmax(-1), "xviz": lambda: xm.zero_shot(img, LABELS)}, repeats, device
        )
        err = (hf_zero_shot().softmax(-1).cpu() - xm.zero_shot(img, LABELS).cpu()).abs().max().item()
    return {**t, "err": err}


def recording_row(folder: str, device: torch.device, repeats: int) -> dict:
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    ViTModel(ViTConfig()).save_pretrained(folder)
    xm = xviz.load_model(folder, device=device, backend="hf")
    hf = ViTModel.from_pretrained(folder, attn_implementation="eager").to(device).eval()
    x = xm.prepare(load_sample("chelsea"))["pixel_values"].to(device)

    def page():
        with xviz.record(xm, names=IMAGE_HOOKS):
            xm(pixel_values=x)

    with torch.no_grad():
        t = bench({"hf": lambda: hf(pixel_values=x, output_attentions=True), "xviz": page}, repeats, device)
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        zs = zero_shot_row(a, device, args.repeats)
        rec = recording_row(b, device, args.repeats)
    print(f"device={name} torch={torch.__version__}  (median ms of {args.repeats} interleaved runs)")
    print("| what | HF | xviz | xviz / HF |")
    print("|---|---|---|---|")
    print(
        f"| zero-shot, 1 image × 20 labels (ViT-B/32 CLIP; max |Δp| {zs['err']:.1e}) | {zs['hf']:.1f} "
        f"| {zs['xviz']:.1f} | {zs['xviz'] / zs['hf']:.2f} |"
    )
    print(
        f"| image-page recording, ViT-B/16 adapter (probs + residuals, 197 tokens) vs HF eager + attentions "
        f"| {rec['hf']:.1f} | {rec['xviz']:.1f} | {rec['xviz'] / rec['hf']:.2f} |"
    )


if __name__ == "__main__":
    main()
