"""What the three shapes-world training scripts share: the command line they record, the optimiser, the CSV curve
and its PNG (train_clip_shapes.py, train_swin_shapes.py, train_mae_shapes.py)."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xviz.analysis.mae_train import cosine_lr  # noqa: E402,F401  (re-exported: the scripts' one schedule)


def command(script: str, argv) -> str:
    """The exact command, for the weights' metadata and the README."""
    return f"python scripts/{script} " + " ".join(sys.argv[1:] if argv is None else argv)


def adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, weight decay on matrices only (not on biases, norms, embeddings tables of one row, temperatures)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


class CurveLog:
    """A CSV training curve written row by row (flushed), with the seconds since it was opened."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns, self.t0 = path, columns, time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "w", newline="")
        self._csv = csv.writer(self._fh)
        self._csv.writerow([*columns, "seconds"])

    def seconds(self) -> float:
        return time.time() - self.t0

    def row(self, values: dict) -> None:
        cells = [f"{values[c]:.4g}" if isinstance(values[c], float) else values[c] for c in self.columns]
        self._csv.writerow([*cells, f"{self.seconds():.0f}"])
        self._fh.flush()
        print(" ".join(f"{c}={v}" for c, v in zip(self.columns, cells)), flush=True)

    def close(self) -> None:
        self._fh.close()


def save_png(csv_path: Path, panels, title: str) -> None:
    """The PNG beside the CSV (needs kaleido + Chromium; the CSV holds the numbers either way)."""
    from xviz.plots.export import save_curve_png
    from xviz.plots.shapes import curve_figure

    try:
        save_curve_png(lambda curve: curve_figure(curve, panels, title), csv_path, csv_path.with_suffix(".png"))
    except Exception as err:  # the PNG is a bonus
        print(f"(no PNG curve: {err})")
