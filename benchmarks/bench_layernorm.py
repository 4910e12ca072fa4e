"""Pre-LN vs post-LN (Xiong et al. 2020), measured in one run: the LayerNorm page's numbers, reproducible.

1. Gradients at initialisation: last-layer ‖∂ℒ/∂W¹‖_F of pre-LN (the baseline) and post-LN per depth, their
   ratio (Theorem 1: grows like √L), pre·√L (flat if pre ∝ 1/√L) and post-LN's last/first-layer ratio.
2. Warm-up (--train): final loss / answer accuracy of the live-training task for pre-LN and post-LN, without and
   with warm-up, over several seeds (the paper: post-LN needs the warm-up, pre-LN does not).

    python benchmarks/bench_layernorm.py                       # d = 128, L = 6, 12, 18, 24, 3 seeds
    python benchmarks/bench_layernorm.py --d 512 --device cuda  # the paper's width
    python benchmarks/bench_layernorm.py --train --seeds 3      # adds the warm-up table (slow on a CPU)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xviz.analysis.grad_norms import layer_grad_norms  # noqa: E402
from xviz.train.live import TrainConfig, train_steps  # noqa: E402


def init_table(args) -> None:
    kw = dict(
        hidden_size=args.d,
        mlp_hidden=2 * args.d,
        num_heads=4,
        vocab_size=512,
        seq_len=32,
        batch=8,
        seeds=tuple(range(args.seeds)),
        zipf=args.zipf,
        device=args.device,
    )
    print(
        f"\n## Gradients at initialisation (d = {args.d}, FFN {2 * args.d}, 4 heads, {args.seeds} seeds, "
        f"Zipf s = {args.zipf}, {args.device})"
    )
    print(
        f"{'L':>4} {'pre last':>10} {'post last':>10} {'post/pre':>9} {'pre·√L':>8} "
        f"{'post last/first':>16} {'pre last/first':>15} {'s':>6}"
    )
    for L in args.depths:
        t = time.perf_counter()
        pre, post = (layer_grad_norms(L, pos, **kw) for pos in ("pre", "post"))
        print(
            f"{L:>4} {pre.last():>10.4f} {post.last():>10.4f} {post.last() / pre.last():>9.2f} "
            f"{pre.last() * L**0.5:>8.3f} {post.last_over_first():>16.2f} {pre.last_over_first():>15.2f} "
            f"{time.perf_counter() - t:>6.1f}"
        )


def train_table(args) -> None:
    base = TrainConfig(lr=args.lr, steps=args.steps, num_layers=6)
    print(
        f"\n## Live-training task (reverse 8 symbols, L = 6, lr {args.lr:g}, {args.steps} steps, "
        f"{args.seeds} seeds): final loss / accuracy (mean of the last 10 steps)"
    )
    print(f"{'warm-up':>8} {'seed':>5} {'pre loss':>9} {'pre acc':>8} {'post loss':>10} {'post acc':>9}")
    for warmup in (0, args.warmup):
        for seed in range(args.seeds):
            row = []
            for pos in ("pre", "post"):
                logs = list(train_steps(replace(base, norm_position=pos, warmup=warmup, seed=seed), args.device))
                tail = logs[-10:]
                row += [sum(s.loss for s in tail) / 10, sum(s.accuracy for s in tail) / 10]
            print(f"{warmup:>8} {seed:>5} {row[0]:>9.3f} {row[1]:>8.0%} {row[2]:>10.3f} {row[3]:>9.0%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--depths", type=int, nargs="+", default=[6, 12, 18, 24])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=60)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    init_table(args)
    if args.train:
        train_table(args)


if __name__ == "__main__":
    main()
