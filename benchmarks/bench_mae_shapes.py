"""Reconstruction quality of `mae-shapes` on held-out shapes-world scenes (test split, never trained on), against
the two baselines of bench_mae_quality.py measured on the same masks: mean-colour fill and nearest-visible-patch
fill. PSNR (dB) on hidden pixels, display RGB in [0, 1], averaged over scenes × mask seeds; per background kind too.
Aim (issue 21): ≥ 6 dB over the mean-colour fill at ratio 0.75.

    python benchmarks/bench_mae_shapes.py                       # mae-shapes, 200 scenes × 5 masks
    python benchmarks/bench_mae_shapes.py --model mae-small     # the photo MAE on the same scenes
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
from xviz.data import shapes  # noqa: E402
from xviz.train.shapes_mae import EVAL_SEED  # noqa: E402

HEADER = (
    "| scenes                 |  MAE   | mean   | near.  | Δmean  | Δnear  |    n |\n"
    "|------------------------|--------|--------|--------|--------|--------|------|"
)


def row(label: str, q: dict) -> str:
    return (
        f"| {label:<22} | {q['model']:6.2f} | {q['mean_fill']:6.2f} | {q['nearest_fill']:6.2f} | "
        f"{q['model'] - q['mean_fill']:+6.2f} | {q['model'] - q['nearest_fill']:+6.2f} | {q['n']:4d} |"
    )


def views_by_background(model, count: int) -> dict[str, list[torch.Tensor]]:
    """Held-out scenes prepared by the model itself (its size and normalisation), grouped by background kind."""
    out: dict[str, list[torch.Tensor]] = {}
    for s in shapes.render_scenes("test", EVAL_SEED, count):
        out.setdefault(s.background, []).append(model.prepare(s.image)["pixel_values"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="mae-shapes", help="registry name, HF folder or hf:<id>")
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.75, 0.9])
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = xviz.load_model(a.model)
    t0, seeds = time.time(), range(a.seeds)
    groups = views_by_background(model, a.scenes)
    every = [v for vs in groups.values() for v in vs]
    print(f"model {a.model}; {a.scenes} held-out shapes scenes (test split from seed {EVAL_SEED}); random masks\n")
    for ratio in a.ratios:
        print(f"ratio {ratio}\n{HEADER}")
        for kind in shapes.BACKGROUNDS:
            if kind in groups:
                print(row(f"{kind} background", quality(model, groups[kind], ratio, seeds)))
        overall = quality(model, every, ratio, seeds)
        print(row("ALL held-out", overall))
        if ratio == 0.75:
            ok = overall["model"] - overall["mean_fill"] >= 6.0
            print(f"\naim (≥ 6 dB over the mean-colour fill at 0.75): {'PASS' if ok else 'FAIL'}")
        print()
    print("| strategy (ratio 0.75, all scenes) | MAE | mean | near. |")
    for s in ("random", "block", "grid"):
        rs = [reconstruct(model, v, s, 0.75, k) for v in every[:50] for k in seeds]
        avg = [sum(getattr(r, k) for r in rs) / len(rs) for k in ("psnr_masked", "psnr_mean_fill", "psnr_nearest_fill")]
        print(f"| {s:<6} | {avg[0]:.2f} | {avg[1]:.2f} | {avg[2]:.2f} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
