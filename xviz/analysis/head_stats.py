"""Per-head statistics for image recordings: mean attention distance in pixels, entropy, high-norm and sink tokens.

- Mean attention distance (Dosovitskiy et al. 2021, ViT, Fig. 7 right): Σ_j a_ij·‖pos_i − pos_j‖ in pixels between
  patch centres, averaged over query patches, per head and layer. Only patch→patch attention is used, and each
  row is renormalised over patch keys (mass on CLS / registers has no position); `renormalise=False` keeps it raw.
- High-norm tokens (Darcet et al. 2023, "Vision Transformers Need Registers"): a few patch tokens whose residual
  norm is several times the typical one; they tend to be attention sinks. Flagged here when ‖x_i‖ > factor ×
  median patch norm. Sinks by attention: tokens that receive many times the uniform share 1/N.
"""

from __future__ import annotations

import torch

from xviz.analysis.attention_stats import head_entropy  # noqa: F401  (re-exported: entropy per head)


def patch_centres(grid: tuple[int, int], patch: int) -> torch.Tensor:
    """(gh·gw, 2) pixel centres (y, x) of the patches, row-major."""
    gh, gw = grid
    ys, xs = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    return (torch.stack([ys, xs], -1).reshape(-1, 2).float() + 0.5) * patch  # (gh, gw, 2) -> (gh·gw, 2)


def patch_distances(grid: tuple[int, int], patch: int) -> torch.Tensor:
    """(Np, Np) Euclidean distance in pixels between patch centres."""
    c = patch_centres(grid, patch)
    return torch.cdist(c, c)


def mean_attention_distance(
    probs: torch.Tensor,
    grid: tuple[int, int],
    patch: int,
    num_prefix: int,
    valid: torch.Tensor | None = None,
    renormalise: bool = True,
) -> torch.Tensor:
    """probs (L, H, N, N) or (L, B, H, N, N) → (L, H) mean distance in pixels. valid (Np,) bool limits queries
    and keys to patches with image content (padding excluded)."""
    p = probs if probs.ndim == 5 else probs[:, None]  # (L, B, H, N, N)
    npatch = grid[0] * grid[1]
    keep = torch.ones(npatch, dtype=torch.bool) if valid is None else torch.as_tensor(valid, dtype=torch.bool)
    dist = patch_distances(grid, patch)  # (Np, Np)
    w = keep.float() / keep.sum().clamp(min=1)
    out = torch.empty(p.shape[0], p.shape[2])
    for layer in range(p.shape[0]):  # one layer at a time: (B, H, Np, Np) in float32
        a = p[layer, ..., num_prefix : num_prefix + npatch, num_prefix : num_prefix + npatch].float()
        a = a * keep.float()  # drop padding keys
        if renormalise:
            a = a / a.sum(-1, keepdim=True).clamp(min=1e-12)
        d = (a * dist).sum(-1)  # (B, H, Np): expected distance per query
        out[layer] = (d * w).sum(-1).mean(0)  # mean over real queries, then batch
    return out


def token_norms(resid: torch.Tensor) -> torch.Tensor:
    """Residual stream (N, C) or (B, N, C) → ‖x_i‖ (N,) (first batch row)."""
    r = resid.float()
    return (r[0] if r.ndim == 3 else r).norm(dim=-1)


def norm_ratio(norms: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """‖x_i‖ / median patch norm, for every token (N,)."""
    med = norms[num_prefix:].median().clamp(min=1e-12)
    return norms / med


def high_norm_tokens(norms: torch.Tensor, num_prefix: int, factor: float = 2.0) -> list[int]:
    """Patch tokens (indices into all N tokens) whose norm exceeds factor × the median patch norm."""
    ratio = norm_ratio(norms, num_prefix)
    idx = torch.nonzero(ratio[num_prefix:] > factor).flatten() + num_prefix
    return idx.tolist()


def attention_received(probs_layer: torch.Tensor) -> torch.Tensor:
    """(H, N, N) → (N,): attention each key receives, averaged over heads and queries (sums to 1)."""
    return probs_layer.float().mean(0).mean(0)


def sink_tokens(probs_layer: torch.Tensor, factor: float = 10.0) -> list[int]:
    """Tokens receiving more than factor × the uniform share 1/N of all attention in this layer."""
    rec = attention_received(probs_layer)
    return torch.nonzero(rec * rec.numel() > factor).flatten().tolist()


def max_norm_ratio_per_layer(resids: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(L, N, C) residual streams → (L,) max patch norm / median patch norm per layer."""
    n = resids.float().norm(dim=-1)[:, num_prefix:]  # (L, Np)
    return n.amax(-1) / n.median(-1).values.clamp(min=1e-12)
