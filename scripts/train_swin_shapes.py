"""Train `swin-shapes`: a small Hugging Face SwinForImageClassification on the shapes world, on one CPU thread.

Task: which colour × shape objects the scene holds (18 labels, multi-label, one sigmoid each; every combination,
nothing held out).
Swin: 4-px patches of the 64-px scene (a 16 × 16 map), two stages (2 + 2 blocks, 2 and 4 heads, 64 and 128 wide),
4 × 4 windows shifted by 2 in every other block (stage 2's 8 × 8 map: four windows). Binary
cross-entropy per label, AdamW, cosine schedule; fresh scenes every step (seeds step·B …), one-object scenes for
the first --single-steps (a curriculum: a transformer learns shape there first, colour alone comes at once).
Writes the HF folder --out (model.safetensors, config.json, preprocessor_config.json, xviz_shapes.json with the
held-out accuracy and the command), <out>.csv and <out>.png. The shipped model, with these defaults:

    python scripts/train_swin_shapes.py --out xviz/weights/swin_shapes --steps 3000 --batch 48 --patch 4 \
        --heads 2 4 --width 64 --eval-every 250
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from shapes_common import ROOT, CurveLog, adamw, command, cosine_lr, save_png, set_lr

from xviz.train import shapes_swin

PANELS = [
    ("training loss (binary cross-entropy per label)", [("loss", "loss")]),
    (
        "held-out accuracy (exact sets)",
        [("accuracy", "colour × shape objects"), ("colour", "colours present"), ("shape", "shapes present")],
    ),
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "xviz/weights/swin_shapes")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--single-steps", type=int, default=1200, help="curriculum: one-object scenes first")
    ap.add_argument("--width", type=int, default=64, help="stage 1's width (embed_dim)")
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--heads", type=int, nargs=2, default=[2, 4])
    return ap.parse_args(argv)


def build(seed: int, a):
    from transformers import SwinForImageClassification

    with torch.random.fork_rng():  # HF initialises from torch's global generator: seed it here, restore it after
        torch.manual_seed(seed)
        cfg = shapes_swin.swin_config(a.width, heads=tuple(a.heads), patch=a.patch)
        return SwinForImageClassification(cfg).train()


def train_step(model, opt, step: int, batch: int, single: bool) -> float:
    x, y = shapes_swin.batch("train", step * batch, batch, n_objects=1 if single else None)
    loss = F.binary_cross_entropy_with_logits(model(pixel_values=x).logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()  # a private model of this script
    opt.step()
    return float(loss.detach())


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    model = build(a.seed, a)
    opt = adamw(model, a.lr, a.weight_decay)
    log = CurveLog(a.out.with_suffix(".csv"), ["step", "lr", "loss", "accuracy", "colour", "shape", "label"])
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.3f} M parameters", flush=True)
    recent = []
    for step in range(a.steps):
        lr = cosine_lr(step, a.steps, a.lr, a.warmup, floor=a.lr * 0.01)
        set_lr(opt, lr)
        recent.append(train_step(model, opt, step, a.batch, step < a.single_steps))
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            q = shapes_swin.evaluate(model.eval(), count=500)
            model.train()
            log.row({"step": step + 1, "lr": lr, "loss": sum(recent) / len(recent), **q})
            recent = []
    log.close()
    final = shapes_swin.evaluate(model.eval())
    print("final (2000 held-out scenes):", json.dumps(final), flush=True)
    model.save_pretrained(a.out)  # safetensors
    shapes_swin.image_processor().save_pretrained(a.out)
    meta = {
        "command": command("train_swin_shapes.py", argv),
        "seconds": round(log.seconds()),
        "task": "which colour × shape objects the scene holds (18 labels, multi-label)",
        "metrics": {k: round(v, 4) for k, v in final.items()},
        "eval": {"scenes": shapes_swin.EVAL_SCENES, "first_seed": shapes_swin.EVAL_SEED, "split": "test"},
    }
    (a.out / "xviz_shapes.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    save_png(a.out.with_suffix(".csv"), PANELS, f"swin-shapes: held-out accuracy {final['accuracy']:.1%}")


if __name__ == "__main__":
    sys.exit(main())
