"""Train xviz's small MAE (registry name `mae-small`) on bundled public-domain images.

Training images: xviz.samples astronaut, camera, retina + scikit-image's CC0/public-domain images in
skimage/data (brick, grass, gravel, cell, coins, hubble_deep_field, ihc, text, clock). Held out for the
quality benchmark (never seen in training): chelsea, coffee, rocket. Heavy augmentation (random resized crops,
flips, colour jitter, all torch ops). Writes the weights every --save-every steps (a usable file exists early),
a CSV curve (step, lr, loss, held-out PSNR of the model and of the two baselines) and, at the end, a PNG curve.

    python scripts/train_mae.py --out xviz/weights/mae_small.safetensors            # CPU, 1 thread
    python scripts/train_mae.py --device cuda --threads 8 --out /tmp/mae.safetensors  # on a GPU
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xviz.analysis.mae import quality  # noqa: E402
from xviz.analysis.mae_train import cosine_lr, make_batch, train_step  # noqa: E402
from xviz.models.mae import MAE, MAEConfig, load_mae_file, prepare_mae, save_mae_file  # noqa: E402

TRAIN_SAMPLES = ["astronaut", "camera", "retina"]
TRAIN_SKIMAGE = [
    "brick.png",
    "grass.png",
    "gravel.png",
    "cell.png",
    "coins.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "text.png",
    "clock_motion.png",
]
HELD_OUT = ["chelsea", "coffee", "rocket"]


def _fit(img, longest: int):
    from PIL import Image

    img = img.convert("RGB")
    s = longest / max(img.size)
    return (
        img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.Resampling.BICUBIC)
        if s < 1
        else img
    )


def _to01(img) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()  # (C, H, W)


def training_images(longest: int) -> list[torch.Tensor]:
    import skimage
    from PIL import Image

    from xviz.samples import load_sample

    imgs = [load_sample(n) for n in TRAIN_SAMPLES]
    data_dir = Path(skimage.__file__).parent / "data"
    imgs += [Image.open(data_dir / f) for f in TRAIN_SKIMAGE]
    return [_to01(_fit(im, longest)) for im in imgs]


def held_out_views(cfg: MAEConfig) -> list[torch.Tensor]:
    from xviz.samples import load_sample

    return [prepare_mae(load_sample(n), cfg)["pixel_values"] for n in HELD_OUT]


def build_config(a) -> MAEConfig:
    return MAEConfig(
        image_size=(a.size, a.size),
        patch_size=a.patch,
        hidden_size=a.dim,
        num_layers=a.depth,
        num_heads=a.heads,
        mlp_hidden=4 * a.dim,
        decoder_hidden_size=a.dec_dim,
        decoder_layers=a.dec_depth,
        decoder_heads=a.dec_heads,
        decoder_mlp_hidden=4 * a.dec_dim,
        norm_pix_loss=a.norm_pix_loss,
    )


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "xviz/weights/mae_small.safetensors")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | mps")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--stop-at", type=int, default=None, help="stop early at this step (schedule unchanged)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dec-dim", type=int, default=96)
    ap.add_argument("--dec-depth", type=int, default=2)
    ap.add_argument("--dec-heads", type=int, default=4)
    ap.add_argument("--ratio-min", type=float, default=0.6, help="mask ratio ~ U(min, max) per batch")
    ap.add_argument("--ratio-max", type=float, default=0.9)
    ap.add_argument("--norm-pix-loss", action="store_true")
    ap.add_argument("--longest", type=int, default=256, help="training images are first fit into this size")
    ap.add_argument(
        "--gray-weight",
        type=float,
        default=1.0,
        help="sampling weight of grayscale training images relative to colour ones",
    )
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from an xviz MAE file (its config wins over the size/width flags)",
    )
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--eval-every", type=int, default=250)
    return ap.parse_args(argv)


def make_optimizer(model, lr: float) -> torch.optim.Optimizer:
    """AdamW, β2 = 0.95, weight decay 0.05 on matrices only (MAE recipe, §A.1)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "token" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "token" in n]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95)
    )


def pick_strategy(g: torch.Generator) -> str:
    u = float(torch.rand(1, generator=g))
    return "random" if u < 0.8 else ("block" if u < 0.9 else "grid")


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    g_init, g_data = torch.Generator().manual_seed(a.seed), torch.Generator().manual_seed(a.seed + 1)
    if a.init is not None:
        model = load_mae_file(a.init)
        cfg = model.cfg
    else:
        cfg = build_config(a)
        model = MAE(cfg).init_weights(g_init)
    model = model.to(device).train()
    opt = make_optimizer(model, a.lr)
    images, views = training_images(a.longest), [v.to(device) for v in held_out_views(cfg)]
    gray = torch.tensor([bool((im[0] == im[1]).all() and (im[1] == im[2]).all()) for im in images])
    weights = None if a.gray_weight == 1.0 else torch.where(gray, a.gray_weight, 1.0)
    csv_path = a.out.with_suffix(".csv")
    meta = {
        "command": "python scripts/train_mae.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "train_images": json.dumps(TRAIN_SAMPLES + TRAIN_SKIMAGE),
        "held_out": json.dumps(HELD_OUT),
        "target": "normalised patches (norm_pix_loss)" if a.norm_pix_loss else "plain pixels",
    }
    print(
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, {len(images)} training images, "
        f"device {device}",
        flush=True,
    )
    t0, recent = time.time(), []
    last = min(a.steps, a.stop_at or a.steps)
    with open(csv_path, "w", newline="") as fh:
        log = csv.writer(fh)
        log.writerow(["step", "lr", "loss", "psnr_model", "psnr_mean_fill", "psnr_nearest_fill", "seconds"])
        for step in range(1, last + 1):
            lr = cosine_lr(step - 1, a.steps, a.lr, a.warmup, floor=a.lr * 0.01)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = make_batch(images, a.batch, cfg.image_size, cfg, g_data, weights=weights).to(device)
            ratio = a.ratio_min + (a.ratio_max - a.ratio_min) * float(torch.rand(1, generator=g_data))
            recent.append(train_step(model, opt, batch, ratio, g_data, pick_strategy(g_data)))
            if step % a.eval_every == 0 or step == last:
                model.eval()
                q = quality(model, views, 0.75, range(4))
                model.train()
                row = [
                    step,
                    f"{lr:.3g}",
                    f"{np.mean(recent):.4f}",
                    f"{q['model']:.2f}",
                    f"{q['mean_fill']:.2f}",
                    f"{q['nearest_fill']:.2f}",
                    f"{time.time() - t0:.0f}",
                ]
                log.writerow(row)
                fh.flush()
                print(" ".join(map(str, row)), flush=True)
                recent = []
            if step % a.save_every == 0 or step == last:
                save_mae_file(model, a.out, {**meta, "step": str(step), "steps": str(a.steps)})
    try:
        from xviz.plots.export import save_curve_png
        from xviz.plots.mae import training_curve_figure

        save_curve_png(training_curve_figure, csv_path, a.out.with_suffix(".png"))
    except Exception as err:  # the PNG is a bonus; the CSV has the numbers
        print(f"(no PNG curve: {err})")


if __name__ == "__main__":
    main()
