"""MAE reconstruction of one image: masking, prediction, un-normalising, pasting, per-patch error, baselines.

Everything the MAE page shows comes from `reconstruct(...)`; `mean_fill` and `nearest_fill` are the baselines
of benchmarks/bench_mae_quality.py. Pixel values in results are display RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from xviz.errors import InputError
from xviz.inputs.image_batch import denormalise
from xviz.layers.patches import make_mask, patch_mask_to_pixels, patchify, random_masking, unpatchify


def unnormalize_pred(pred: torch.Tensor, target_patches: torch.Tensor) -> torch.Tensor:
    """A norm_pix_loss model predicts (patch − mean)/sqrt(var + 1e-6). Undo it with the TRUE patch's mean and
    unbiased variance, which the viewer knows and the model never saw (MAE demo practice)."""
    mean = target_patches.mean(dim=-1, keepdim=True)
    var = target_patches.var(dim=-1, keepdim=True, unbiased=True)
    return pred * (var + 1e-6) ** 0.5 + mean


def psnr(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None) -> float:
    """PSNR in dB of [0, 1] images; `weight` (broadcastable, 1 = counts) restricts it to e.g. hidden pixels."""
    err = (a - b) ** 2
    if weight is not None:
        w = weight.expand_as(err)
        mse = float((err * w).sum() / w.sum().clamp(min=1))
    else:
        mse = float(err.mean())
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def mean_fill(x01: torch.Tensor, is_masked: torch.Tensor, p: int) -> torch.Tensor:
    """Baseline: every hidden patch gets the mean colour of the visible pixels of its image."""
    B, C, H, W = x01.shape
    m = patch_mask_to_pixels(is_masked, p, (H // p, W // p))  # (B, 1, H, W)
    vis = 1 - m
    colour = (x01 * vis).sum((2, 3), keepdim=True) / vis.sum((2, 3), keepdim=True).clamp(min=1)  # (B, C, 1, 1)
    return x01 * vis + colour * m


def nearest_fill(x01: torch.Tensor, is_masked: torch.Tensor, p: int) -> torch.Tensor:
    """Baseline: every hidden patch copies the visible patch nearest to it on the patch grid (Euclidean
    distance between patch centres; ties → the lower patch index)."""
    B, C, H, W = x01.shape
    gh, gw = H // p, W // p
    patches = patchify(x01, p)  # (B, N, p²·C)
    rr, cc = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    coords = torch.stack([rr.reshape(-1), cc.reshape(-1)], 1).float()  # (N, 2)
    dist = torch.cdist(coords, coords)  # (N, N)
    out = patches.clone()
    for b in range(B):
        vis = (~is_masked[b]).nonzero()[:, 0].cpu()
        if len(vis) == 0:
            continue
        src = vis[dist[:, vis].argmin(dim=1)]  # (N,) nearest visible patch
        out[b] = patches[b, src.to(patches.device)]
    return unpatchify(out, p, gh, gw, channels=C)


@dataclass
class Reconstruction:
    original: np.ndarray  # (H, W, C) display RGB
    masked: np.ndarray  # hidden patches greyed out
    recon: np.ndarray  # the decoder's output everywhere
    pasted: np.ndarray  # x·(1 − mask) + pred·mask
    patch_error: np.ndarray  # (h, w) per-patch MSE of the reconstruction in display space
    is_masked: np.ndarray  # (h, w) bool
    psnr_masked: float  # PSNR on hidden pixels, dB
    psnr_mean_fill: float
    psnr_nearest_fill: float
    loss: float  # the model's own loss (its target space)
    norm_pix: bool
    ratio: float
    strategy: str
    seed: int


def _to_np(x: torch.Tensor) -> np.ndarray:
    return x[0].permute(1, 2, 0).detach().cpu().float().numpy()  # (C, H, W) -> (H, W, C)


def predict_pixels(model, pixel_values: torch.Tensor, masking) -> tuple[torch.Tensor, object]:
    """Run the model with a given masking → (prediction as a model-space image (B, C, H, W), output)."""
    cfg = model.cfg
    p = cfg.patch_size
    out = model(pixel_values, masking=masking)
    pred = out.pred
    if cfg.norm_pix_loss:
        pred = unnormalize_pred(pred, patchify(pixel_values, p))
    gh, gw = pixel_values.shape[2] // p, pixel_values.shape[3] // p
    return unpatchify(pred, p, gh, gw, channels=cfg.num_channels), out


@torch.no_grad()
def reconstruct(
    model,
    pixel_values: torch.Tensor,
    strategy: str = "random",
    ratio: float = 0.75,
    seed: int = 0,
    noise: torch.Tensor | None = None,
) -> Reconstruction:
    """Mask one image (1, C, H, W) with a seeded strategy, reconstruct it, and measure against the baselines."""
    if not 0.0 <= ratio <= 0.95:
        raise InputError(f"The mask ratio must be between 0 and 0.95, got {ratio}.")
    cfg = model.cfg
    p = cfg.patch_size
    B, C, H, W = pixel_values.shape
    grid = (H // p, W // p)
    N = grid[0] * grid[1]
    if noise is not None:
        masking = random_masking(B, N, ratio, noise=noise)
    else:
        masking = make_mask(strategy, B, N, ratio, torch.Generator().manual_seed(int(seed)), grid_hw=grid)
    masking = tuple(t.to(pixel_values.device) for t in masking)
    pred_img, out = predict_pixels(model, pixel_values, masking)
    is_masked = masking[1]
    m = patch_mask_to_pixels(is_masked, p, grid).to(pixel_values)  # (B, 1, H, W)
    x01 = denormalise(pixel_values, cfg.image_mean, cfg.image_std)
    r01 = denormalise(pred_img, cfg.image_mean, cfg.image_std)
    pasted = x01 * (1 - m) + r01 * m
    err = ((r01 - x01) ** 2).mean(1, keepdim=True)  # (B, 1, H, W)
    patch_err = patchify(err, p).mean(-1).reshape(*grid)  # (h, w)
    return Reconstruction(
        original=_to_np(x01),
        masked=_to_np(x01 * (1 - m) + 0.5 * m),
        recon=_to_np(r01),
        pasted=_to_np(pasted),
        patch_error=patch_err.cpu().numpy(),
        is_masked=is_masked[0].reshape(*grid).cpu().numpy(),
        psnr_masked=psnr(pasted, x01, m) if is_masked.any() else float("inf"),
        psnr_mean_fill=psnr(mean_fill(x01, is_masked, p), x01, m) if is_masked.any() else float("inf"),
        psnr_nearest_fill=psnr(nearest_fill(x01, is_masked, p), x01, m) if is_masked.any() else float("inf"),
        loss=float(out.loss),
        norm_pix=cfg.norm_pix_loss,
        ratio=ratio,
        strategy=strategy,
        seed=int(seed),
    )


@torch.no_grad()
def quality(model, views: list[torch.Tensor], ratio: float = 0.75, seeds=range(8)) -> dict[str, float]:
    """Mean PSNR (dB) on hidden pixels over views (each (1, C, H, W), model space) × random-mask seeds: the
    model's pasted reconstruction vs mean-colour fill vs nearest-visible-patch fill (issue 4's quality bar)."""
    rows = [reconstruct(model, v, "random", ratio, s) for v in views for s in seeds]
    return {
        "model": float(np.mean([r.psnr_masked for r in rows])),
        "mean_fill": float(np.mean([r.psnr_mean_fill for r in rows])),
        "nearest_fill": float(np.mean([r.psnr_nearest_fill for r in rows])),
        "n": len(rows),
    }
