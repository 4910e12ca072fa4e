"""Train the four token-mixer digit models (vit-digits, mixer-digits, fnet-digits, cnn-digits) on scikit-learn's
`load_digits` (xviz.data.digits: 16 × 16, fixed split, 449 images held out), on one CPU thread.

No augmentation, on purpose: the page asks what each architecture does with a shifted digit it never saw
shifted (the inductive-bias question). Fixed seeds (torch.Generator), AdamW, cosine schedule, label smoothing.
Writes xviz/weights/<name>.safetensors (config, held-out accuracy, parameter count, command in the metadata)
and <name>.csv (epoch, lr, train loss, train accuracy, held-out accuracy, seconds) and <name>.png.

    python scripts/train_mixers.py                 # all four, ~1-3 min each on one thread
    python scripts/train_mixers.py --only vit --epochs 10 --out-dir /tmp/mixers
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xviz.data.digits import load_split, normalise  # noqa: E402
from xviz.models._checkpoint import save_with_config  # noqa: E402
from xviz.models.digit_vit import build, init_weights  # noqa: E402
from xviz.models.mixers import ARCHS, DigitConfig  # noqa: E402

RECIPES = {  # arch -> (config overrides, epochs, peak lr)
    "vit": ({}, 120, 2e-3),
    "mixer": ({}, 100, 2e-3),
    "fnet": ({}, 100, 2e-3),
    "cnn": ({}, 40, 3e-3),
}


def cosine(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))


@torch.no_grad()
def accuracy(model, x01: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    hits = sum(
        int((model(normalise(x01[i : i + batch])).logits.argmax(-1) == y[i : i + batch]).sum())
        for i in range(0, len(y), batch)
    )
    return hits / len(y)


def train_one(arch: str, epochs: int | None, seed: int, batch: int) -> tuple[torch.nn.Module, list, dict]:
    overrides, default_epochs, lr = RECIPES[arch]
    epochs = epochs or default_epochs
    cfg = DigitConfig(arch=arch, **overrides)
    g = torch.Generator().manual_seed(seed)
    model = init_weights(build(cfg), g).train()  # a fresh private model, never a cached one
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    steps_per_epoch = math.ceil(len(ytr) / batch)
    total, rows, t0 = epochs * steps_per_epoch, [], time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=g)
        loss_sum, hits = 0.0, 0
        for s in range(steps_per_epoch):
            for group in opt.param_groups:
                group["lr"] = cosine(ep * steps_per_epoch + s, total, lr, warmup=steps_per_epoch * 3)
            idx = perm[s * batch : (s + 1) * batch]
            logits = model(normalise(xtr[idx])).logits
            loss = F.cross_entropy(logits, ytr[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            hits += int((logits.argmax(-1) == ytr[idx]).sum())
        test_acc = accuracy(model, xte, yte)
        rows.append(
            [
                ep + 1,
                opt.param_groups[0]["lr"],
                loss_sum / len(ytr),
                hits / len(ytr),
                test_acc,
                round(time.time() - t0, 1),
            ]
        )
        print(
            f"{arch} epoch {ep + 1}/{epochs} loss {rows[-1][2]:.4f} train {rows[-1][3]:.4f} "
            f"held-out {test_acc:.4f} ({rows[-1][5]} s)",
            flush=True,
        )
    model.eval()
    info = {
        "config": cfg.to_json(),
        "test_accuracy": f"{rows[-1][4]:.6f}",
        "epochs": str(epochs),
        "params": str(sum(p.numel() for p in model.parameters())),
        "seed": str(seed),
        "train_seconds": f"{time.time() - t0:.1f}",
        "test_images": str(len(yte)),
        "train_images": str(len(ytr)),
        "data": "sklearn.datasets.load_digits, 8x8 -> 16x16 bilinear, split seed 0, 25 % held out",
    }
    return model, rows, info


def write_curve(rows: list, path: Path, title: str) -> None:
    with open(path.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "seconds"])
        w.writerows(rows)
    write_png(rows, path, title)


def read_curve(path: Path) -> list:
    with open(path.with_suffix(".csv"), newline="") as fh:
        return [[float(v) for v in r] for r in list(csv.reader(fh))[1:]]


def write_png(rows: list, path: Path, title: str) -> None:
    try:
        from xviz.plots.export import figure_image
        from xviz.plots.mixers import curve_figure

        path.with_suffix(".png").write_bytes(figure_image(curve_figure(rows, title), "png", scale=1.5))
    except Exception as err:  # the PNG is a bonus; the CSV has the numbers
        print(f"(no PNG curve: {err})")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=ARCHS, default=list(ARCHS))
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "xviz" / "weights")
    ap.add_argument("--png-only", action="store_true", help="redraw the PNG curves from the CSVs, train nothing")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.png_only:
        for arch in a.only:
            path = a.out_dir / f"{arch}_digits.safetensors"
            rows = read_curve(path)
            write_png(rows, path, f"{arch}-digits: held-out accuracy {rows[-1][4]:.4f}")
        return
    for arch in a.only:
        model, rows, info = train_one(arch, a.epochs, a.seed, a.batch)
        info["command"] = "python scripts/train_mixers.py " + " ".join(sys.argv[1:] if argv is None else argv)
        path = a.out_dir / f"{arch}_digits.safetensors"
        save_with_config(model, path, info)
        path.chmod(0o644)  # safetensors writes 0600
        write_curve(rows, path, f"{arch}-digits: held-out accuracy {rows[-1][4]:.4f}")
        print(
            f"wrote {path} (held-out accuracy {info['test_accuracy']}, {info['params']} params, "
            f"{info['train_seconds']} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
