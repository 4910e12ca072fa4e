"""Training an MAE: augmentation written with torch ops (no torchvision), the optimiser step, and the page's
"fine-tune on this image" (always on a deep copy: the shared cached model is never trained).

All randomness comes from a torch.Generator (no process-global seed).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from xviz.inputs.image_batch import denormalise, normalise
from xviz.layers.patches import make_mask


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand(1, generator=g))


def random_resized_crop(
    img: torch.Tensor, size: tuple[int, int], g: torch.Generator, scale=(0.15, 1.0), ratio=(3 / 4, 4 / 3)
) -> torch.Tensor:
    """Random area fraction ∈ scale and log-uniform aspect ∈ ratio of (C, H, W), resized (bilinear,
    antialiased) to size → (C, h, w). Falls back to the largest centred crop (Inception-style)."""
    C, H, W = img.shape
    for _ in range(10):
        area = H * W * _u(g, *scale)
        aspect = math.exp(_u(g, math.log(ratio[0]), math.log(ratio[1])))
        ch, cw = int(round(math.sqrt(area / aspect))), int(round(math.sqrt(area * aspect)))
        if 0 < ch <= H and 0 < cw <= W:
            top = int(torch.randint(0, H - ch + 1, (1,), generator=g))
            left = int(torch.randint(0, W - cw + 1, (1,), generator=g))
            break
    else:
        ch = cw = min(H, W)
        top, left = (H - ch) // 2, (W - cw) // 2
    crop = img[None, :, top : top + ch, left : left + cw]  # (1, C, ch, cw)
    return F.interpolate(crop, size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def _gray(img: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma, (3, H, W) → (1, H, W)."""
    return (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]


def _hue_rotate(img: torch.Tensor, turn: float) -> torch.Tensor:
    """Rotate the chroma plane of YIQ by `turn`·360°: a hue shift that keeps luma."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    c, s = math.cos(2 * math.pi * turn), math.sin(2 * math.pi * turn)
    rot = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (3, 3)
    return torch.einsum("ij,jhw->ihw", m.to(img), img)


def colour_jitter(
    img: torch.Tensor, g: torch.Generator, brightness=0.4, contrast=0.4, saturation=0.5, hue=0.05, p_gray=0.1
) -> torch.Tensor:
    """Brightness ×U(1±b), contrast and saturation blends, hue rotation ±hue turn, random grayscale; [0, 1]."""
    img = img * _u(g, 1 - brightness, 1 + brightness)
    img = (img - _gray(img).mean()) * _u(g, 1 - contrast, 1 + contrast) + _gray(img).mean()
    if img.shape[0] == 3:
        gray = _gray(img)
        img = (img - gray) * _u(g, 1 - saturation, 1 + saturation) + gray
        img = _hue_rotate(img, _u(g, -hue, hue))
        if _u(g) < p_gray:
            img = _gray(img).expand(3, -1, -1)
    return img.clamp(0, 1)


def augment(img01: torch.Tensor, size: tuple[int, int], g: torch.Generator, heavy: bool = True) -> torch.Tensor:
    """One training view of a (C, H, W) [0, 1] image: random resized crop, flips, colour jitter."""
    x = random_resized_crop(img01, size, g, scale=(0.15, 1.0) if heavy else (0.6, 1.0))
    if _u(g) < 0.5:
        x = x.flip(-1)
    if heavy and _u(g) < 0.1:
        x = x.flip(-2)
    return colour_jitter(x, g) if heavy else x


def make_batch(
    images: list[torch.Tensor],
    batch_size: int,
    size: tuple[int, int],
    cfg,
    g: torch.Generator,
    heavy: bool = True,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, C, h, w) normalised batch of augmented views of randomly chosen images (uniformly, or with the
    given per-image sampling weights)."""
    if weights is None:
        idx = torch.randint(0, len(images), (batch_size,), generator=g).tolist()
    else:
        idx = torch.multinomial(weights, batch_size, replacement=True, generator=g).tolist()
    views = torch.stack([augment(images[i], size, g, heavy) for i in idx])  # (B, C, h, w)
    return normalise(views, cfg.image_mean, cfg.image_std)


def train_step(model, opt, batch: torch.Tensor, ratio: float, g: torch.Generator, strategy: str = "random") -> float:
    """One AdamW step on the masked-patch loss (model must be a private copy in train mode)."""
    p = model.cfg.patch_size
    grid = (batch.shape[2] // p, batch.shape[3] // p)
    masking = make_mask(strategy, batch.shape[0], grid[0] * grid[1], ratio, g, grid_hw=grid, device=batch.device)
    loss = model(batch, masking=masking).loss
    params = [q for q in model.parameters() if q.requires_grad]
    # autograd.grad, then .grad only on this private copy (the optimiser reads it there)
    for q, g in zip(params, torch.autograd.grad(loss, params)):
        q.grad = g
    opt.step()
    return float(loss.detach())


def finetune(
    model,
    pixel_values: torch.Tensor,
    steps: int,
    lr: float = 3e-4,
    seed: int = 0,
    ratio: float = 0.75,
    batch_size: int = 8,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[torch.nn.Module, list[float]]:
    """Fine-tune a DEEP COPY of `model` on one image (light crops + flips, fresh random masks each step);
    returns (the copy in eval mode, losses). The given (possibly shared, cached) model is never touched."""
    tuned = copy.deepcopy(model).train()
    opt = torch.optim.AdamW([q for q in tuned.parameters() if q.requires_grad], lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(int(seed))
    img01 = denormalise(pixel_values, model.cfg.image_mean, model.cfg.image_std)[0].cpu()
    size = tuple(pixel_values.shape[2:])
    losses = []
    for step in range(int(steps)):
        batch = make_batch([img01], batch_size, size, model.cfg, g, heavy=False).to(pixel_values.device)
        losses.append(train_step(tuned, opt, batch, ratio, g))
        if progress is not None:
            progress(step + 1, losses[-1])
    return tuned.eval(), losses


def cosine_lr(step: int, total: int, base: float, warmup: int, floor: float = 0.0) -> float:
    """Linear warm-up then half-cosine decay to `floor` (MAE recipe)."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
