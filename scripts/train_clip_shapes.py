"""Train `clip-shapes`: a tiny Hugging Face CLIPModel on the shapes world (xviz.data.shapes), on one CPU thread.

Image tower: ViT on 8-px patches of the 64-px scene; text tower: CLIP's causal transformer over the caption
tokenizer (WordLevel), pooled at <eos>. Loss: CLIP's symmetric cross-entropy with a learned temperature
(`logit_scale`, clipped at ln 100; Radford et al. 2021), identical captions in a batch counted as positives.
Every step renders fresh training scenes: B/2 scenes (seeds step·B/2 …) each with its twin whose first
object has another shape (xviz.data.shapes.twin_scenes: a hard negative only the shape tells apart). The held-out
combinations (green triangle, purple circle) never appear in them. Writes the HF folder --out (model.safetensors,
config.json, tokenizer, preprocessor_config.json, xviz_shapes.json with the held-out numbers and the command),
<out>.csv and <out>.png.

    python scripts/train_clip_shapes.py --out xviz/weights/clip_shapes --steps 2000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from shapes_common import ROOT, CurveLog, adamw, command, cosine_lr, save_png, set_lr

from xviz.data import shapes  # noqa: E402
from xviz.train import shapes_clip  # noqa: E402

PANELS = [
    ("training loss (symmetric cross-entropy)", [("loss", "loss")]),
    (
        "held-out accuracy",
        [
            ("zero_shot_held_out", "zero-shot, held-out combinations"),
            ("zero_shot_seen", "zero-shot, seen combinations"),
            ("retrieval_r1", "image → text R@1"),
        ],
    ),
    ("temperature τ = 1 / exp(logit_scale)", [("tau", "τ")]),
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "xviz/weights/clip_shapes")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--single-steps", type=int, default=0, help="curriculum: one-object scenes first")
    return ap.parse_args(argv)


def build(seed: int):
    tokenizer = shapes_clip.caption_tokenizer()
    from transformers import CLIPModel

    with torch.random.fork_rng():  # HF initialises from torch's global generator: seed it here, restore it after
        torch.manual_seed(seed)
        model = CLIPModel(shapes_clip.clip_config(len(tokenizer)))
    return model.train(), tokenizer


def train_step(model, tokenizer, opt, step: int, batch: int, single: bool) -> float:
    seeds = range(step * batch // 2, (step + 1) * batch // 2)
    pairs = [shapes.twin_scenes(seed, n_objects=1 if single else None) for seed in seeds]
    scenes = [s for pair in pairs for s in pair]  # each scene beside its twin of another shape
    captions = [s.caption for s in scenes]
    tokens = tokenizer(captions, padding=True, return_tensors="pt")
    out = model(
        input_ids=tokens["input_ids"],
        attention_mask=tokens["attention_mask"],
        pixel_values=shapes.normalise(shapes.to_tensor(scenes)),
    )
    loss = shapes_clip.contrastive_loss(out.logits_per_image, captions)
    opt.zero_grad(set_to_none=True)
    loss.backward()  # a private model of this script
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, shapes_clip.LOGIT_SCALE_MAX)
    return float(loss.detach())


def save(model, tokenizer, out: Path, meta: dict) -> None:
    model.save_pretrained(out)  # safetensors
    tokenizer.save_pretrained(out)
    shapes_clip.image_processor().save_pretrained(out)
    (out / "xviz_shapes.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    model, tokenizer = build(a.seed)
    opt = adamw(model, a.lr, a.weight_decay)
    log = CurveLog(a.out.with_suffix(".csv"), ["step", "lr", "loss", "tau", *[k for _, t in PANELS[1:2] for k, _ in t]])
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    recent = []
    for step in range(a.steps):
        lr = cosine_lr(step, a.steps, a.lr, a.warmup, floor=a.lr * 0.01)
        set_lr(opt, lr)
        recent.append(train_step(model, tokenizer, opt, step, a.batch, step < a.single_steps))
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            model.eval()
            q = shapes_clip.evaluate(model, tokenizer, held_per_combo=50, seen_per_combo=10, retrieval=256)
            model.train()
            tau = float(1 / model.logit_scale.detach().exp())
            log.row({"step": step + 1, "lr": lr, "loss": sum(recent) / len(recent), "tau": tau, **q})
            recent = []
    log.close()
    model.eval()
    final = shapes_clip.evaluate(model, tokenizer)
    print("final (full held-out sets):", json.dumps(final), flush=True)
    meta = {
        "command": command("train_clip_shapes.py", argv),
        "seconds": round(log.seconds()),
        "held_out_combinations": sorted(" ".join(c) for c in shapes.HELD_OUT),
        "labels": shapes.label_phrases(),
        "template": "{}",
        "metrics": {k: round(v, 4) for k, v in final.items()},
        "eval": {"held_per_combo": 100, "seen_per_combo": 20, "retrieval": 500, "split": "test"},
    }
    save(model, tokenizer, a.out, meta)
    save_png(
        a.out.with_suffix(".csv"),
        PANELS,
        f"clip-shapes: zero-shot on held-out combinations {final['zero_shot_held_out']:.1%}",
    )


if __name__ == "__main__":
    sys.exit(main())
