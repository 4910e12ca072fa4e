"""Reconstruction quality of an MAE on images NOT used in its training (issue 4's bar), against two baselines
measured in the same run on the same masks: mean-colour fill and nearest-visible-patch fill.

PSNR (dB) on hidden pixels only, display RGB in [0, 1]; averaged over views × mask seeds. Views of each held-out
image: its centre crop at the model's size plus --crops seeded random crops (30–100 % of the area).
Bar: at ratio 0.75 the model beats both baselines by ≥ 2 dB.

    python benchmarks/bench_mae_quality.py                      # mae-small, held-out chelsea / coffee / rocket
    python benchmarks/bench_mae_quality.py --model hf:facebook/vit-mae-base --images chelsea coffee
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import xviz  # noqa: E402
from xviz.analysis.mae import quality, reconstruct  # noqa: E402
from xviz.models.mae import prepare_mae  # noqa: E402
from xviz.samples import load_sample  # noqa: E402

HELD_OUT = ["chelsea", "coffee", "rocket"]  # scripts/train_mae.py HELD_OUT
SEEN = ["astronaut", "retina"]  # training images, for reference only


def views_of(name: str, cfg, crops: int, seed: int) -> list[torch.Tensor]:
    """Centre crop + seeded random crops of a bundled sample, each (1, C, H, W) in model space."""
    img = load_sample(name)
    out = [prepare_mae(img, cfg)["pixel_values"]]
    g = torch.Generator().manual_seed(seed)
    W, H = img.size
    for _ in range(crops):
        frac = 0.3 + 0.7 * float(torch.rand(1, generator=g))
        side = int(min(W, H) * frac**0.5)
        left = int(torch.randint(0, W - side + 1, (1,), generator=g))
        top = int(torch.randint(0, H - side + 1, (1,), generator=g))
        out.append(prepare_mae(img.crop((left, top, left + side, top + side)), cfg)["pixel_values"])
    return out


def row(label: str, q: dict) -> str:
    return (
        f"| {label:<22} | {q['model']:6.2f} | {q['mean_fill']:6.2f} | {q['nearest_fill']:6.2f} | "
        f"{q['model'] - q['mean_fill']:+6.2f} | {q['model'] - q['nearest_fill']:+6.2f} | {q['n']:4d} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mae-small", help="registry name, HF folder, hf:<id> or an xviz .safetensors")
    ap.add_argument("--images", nargs="+", default=HELD_OUT)
    ap.add_argument("--crops", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.75, 0.9])
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.model.endswith(".safetensors"):  # an xviz MAE file, e.g. a checkpoint of scripts/train_mae.py
        from xviz.models.mae import load_mae_file

        model = load_mae_file(Path(a.model)).eval()
    else:
        model = xviz.load_model(a.model)
    cfg = model.cfg
    t0 = time.time()
    header = (
        "| images                 |  MAE   | mean   | near.  | Δmean  | Δnear  |    n |\n"
        "|------------------------|--------|--------|--------|--------|--------|------|"
    )
    views = {n: views_of(n, cfg, a.crops, seed=i) for i, n in enumerate(a.images)}
    seeds = range(a.seeds)
    print(
        f"model {a.model}: {cfg.image_size[0]}×{cfg.image_size[1]} px, patch {cfg.patch_size}, "
        f"{'norm_pix' if cfg.norm_pix_loss else 'plain-pixel'} targets; PSNR dB on hidden pixels; random masks\n"
    )
    for ratio in a.ratios:
        print(f"ratio {ratio}\n{header}")
        for n, vs in views.items():
            print(row(n, quality(model, vs, ratio, seeds)))
        overall = quality(model, [v for vs in views.values() for v in vs], ratio, seeds)
        print(row("ALL held-out", overall))
        if a.images == HELD_OUT:
            seen = [v for n in SEEN for v in views_of(n, cfg, a.crops, seed=10)]
            print(row("(training images)", quality(model, seen, ratio, seeds)))
        if ratio == 0.75:
            ok = overall["model"] - max(overall["mean_fill"], overall["nearest_fill"]) >= 2.0
            print(f"\nbar (≥ 2 dB over both baselines at 0.75): {'PASS' if ok else 'FAIL'}")
        print()
    v = views[a.images[0]][0]
    print("| strategy (ratio 0.75, " + a.images[0] + " centre crop) | MAE | mean | near. |")
    for s in ("random", "block", "grid"):
        rs = [reconstruct(model, v, s, 0.75, k) for k in seeds]
        avg = [sum(getattr(r, k) for r in rs) / len(rs) for k in ("psnr_masked", "psnr_mean_fill", "psnr_nearest_fill")]
        print(f"| {s:<6} | {avg[0]:.2f} | {avg[1]:.2f} | {avg[2]:.2f} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
