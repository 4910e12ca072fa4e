"""Train `mae-shapes`: xviz's own MAE (xviz.models.mae) on the shapes world, on one CPU thread.

Same recipe as scripts/train_mae.py (its optimiser and masking-strategy mix are imported from there; the step is
xviz.analysis.mae_train.train_step): plain-pixel targets, random / block / grid masks at ratios U(0.6, 0.9), AdamW
with warm-up and cosine decay. The data are fresh rendered scenes every step (seeds step·B …), so there is
nothing to augment. Held-out PSNR on hidden pixels (ratio 0.75) against mean-colour and nearest-visible-patch
fills is logged every --eval-every steps. Writes --out (an xviz MAE safetensors file: config, command and held-out
numbers in its metadata), <out>.csv and <out>.png.

    python scripts/train_mae_shapes.py --out xviz/weights/mae_shapes.safetensors --steps 1500
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from shapes_common import ROOT, CurveLog, command, cosine_lr, save_png, set_lr
from train_mae import make_optimizer, pick_strategy

from xviz.analysis.mae import quality
from xviz.analysis.mae_train import train_step
from xviz.models.mae import MAE, save_mae_file
from xviz.train import shapes_mae

PANELS = [
    ("training loss on hidden patches (normalised pixels)", [("loss", "loss")]),
    (
        "held-out PSNR on hidden pixels at ratio 0.75 (dB)",
        [
            ("psnr_model", "MAE (held-out scenes)"),
            ("psnr_mean_fill", "mean-colour fill"),
            ("psnr_nearest_fill", "nearest-visible-patch fill"),
        ],
    ),
]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "xviz/weights/mae_shapes.safetensors")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--dec-dim", type=int, default=96)
    ap.add_argument("--dec-depth", type=int, default=2)
    ap.add_argument("--ratio-min", type=float, default=0.6)
    ap.add_argument("--ratio-max", type=float, default=0.9)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-scenes", type=int, default=48)
    return ap.parse_args(argv)


def evaluate(model: MAE, views) -> dict:
    model.eval()
    q = quality(model, views, 0.75, range(2))
    model.train()
    return {"psnr_model": q["model"], "psnr_mean_fill": q["mean_fill"], "psnr_nearest_fill": q["nearest_fill"]}


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    g_init, g_mask = torch.Generator().manual_seed(a.seed), torch.Generator().manual_seed(a.seed + 1)
    model = MAE(shapes_mae.mae_config(a.dim, a.depth, a.dec_dim, a.dec_depth)).init_weights(g_init).train()
    opt = make_optimizer(model, a.lr)
    views = shapes_mae.eval_views(a.eval_scenes)
    log = CurveLog(a.out.with_suffix(".csv"), ["step", "lr", "loss", *[k for k, _ in PANELS[1][1]]])
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    recent, q = [], {}
    for step in range(a.steps):
        lr = cosine_lr(step, a.steps, a.lr, a.warmup, floor=a.lr * 0.01)
        set_lr(opt, lr)
        ratio = a.ratio_min + (a.ratio_max - a.ratio_min) * float(torch.rand(1, generator=g_mask))
        batch = shapes_mae.training_batch(step, a.batch)
        recent.append(train_step(model, opt, batch, ratio, g_mask, pick_strategy(g_mask)))
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            q = evaluate(model, views)
            log.row({"step": step + 1, "lr": lr, "loss": sum(recent) / len(recent), **q})
            recent = []
    log.close()
    meta = {
        "command": command("train_mae_shapes.py", argv),
        "seconds": str(round(log.seconds())),
        "train_data": "xviz.data.shapes, split train, seeds 0 … steps·batch",
        "held_out": f"{a.eval_scenes} test-split scenes from seed {shapes_mae.EVAL_SEED}, ratio 0.75, 2 masks each",
        "metrics": json.dumps({k: round(v, 2) for k, v in q.items()}),
        "target": "plain pixels",
        "step": str(a.steps),
    }
    save_mae_file(model.eval(), a.out, meta)
    gain = q["psnr_model"] - q["psnr_mean_fill"]
    save_png(a.out.with_suffix(".csv"), PANELS, f"mae-shapes: +{gain:.1f} dB over mean-colour fill (held-out)")


if __name__ == "__main__":
    sys.exit(main())
