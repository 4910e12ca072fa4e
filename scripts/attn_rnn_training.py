"""What scripts/train_copy.py and scripts/train_monotonic.py share: the learning-rate schedule, the training loop
with its CSV log, and writing the weights with their curve. Not a script of its own."""

from __future__ import annotations

import csv
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def train(
    model: torch.nn.Module,
    loss_fn: Callable[[int], dict[str, torch.Tensor]],
    evaluate: Callable[[int], dict[str, float]],
    csv_path: Path,
    steps: int,
    lr: float,
    warmup: int,
    eval_at: set[int],
) -> dict[str, float]:
    """Adam + clipping; `loss_fn(step)` → named losses (their sum is minimised); at each step in `eval_at` a CSV row
    (step, lr, mean losses since the last row, evaluate(step)'s numbers, seconds). Returns the last evaluation."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0, recent, last = time.time(), [], {}
    Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        log = None
        for step in range(1, steps + 1):
            for group in opt.param_groups:
                group["lr"] = lr_at(step - 1, steps, lr, warmup)
            model.train()
            parts = loss_fn(step)
            opt.zero_grad(set_to_none=True)
            sum(parts.values()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            recent.append({k: float(v.detach()) for k, v in parts.items()})
            if step in eval_at or step == steps:
                model.eval()
                last = evaluate(step)
                row = {"step": step, "lr": f"{opt.param_groups[0]['lr']:.3g}"}
                row.update({f"loss_{k}": f"{sum(r[k] for r in recent) / len(recent):.4f}" for k in recent[0]})
                row.update({k: round(v, 4) for k, v in last.items()})
                row["seconds"] = f"{time.time() - t0:.0f}"
                if log is None:
                    log = csv.DictWriter(fh, fieldnames=list(row))
                    log.writeheader()
                log.writerow(row)
                fh.flush()
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
                recent = []
    last["train_seconds"] = round(time.time() - t0)
    return last


def eval_steps(steps: int, every: int, early: tuple[int, ...] = (25, 50, 75)) -> set[int]:
    """Where to evaluate: a few early points (alignment forms early), then every `every` steps."""
    return {s for s in early if s < steps} | set(range(every, steps + 1, every)) | {steps}


def save_png(figure_of, csv_path: Path, png_path: Path) -> None:
    try:
        from xviz.plots.export import save_curve_png

        save_curve_png(figure_of, csv_path, png_path)
    except Exception as err:  # the PNG is a bonus; the CSV has the numbers
        print(f"(no PNG curve: {err})")


def command(script: str, argv) -> str:
    return f"python scripts/{script} " + " ".join(sys.argv[1:] if argv is None else argv)
