"""The measured kernels by name: how to build each on given Q/K/V (setup outside the timed call) and how much
memory it needs (a formula, to refuse sizes that would not fit before trying them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from xviz.kernels import dense, flex, local, lowrank
from xviz.layers import sparse_masks as sm
from xviz.variants.lowrank import projection_matrix, random_features


@dataclass(frozen=True)
class KernelParams:
    window: int = 512  # sliding window w (|i − j| ≤ w/2)
    features: int = 256  # Performer m
    proj_dim: int = 256  # Linformer k
    block: int = 64  # BigBird block
    num_random: int = 3  # BigBird random blocks
    seed: int = 0


@dataclass(frozen=True)
class Kernel:
    name: str
    label: str
    build: Callable  # (q, k, v, params) → (zero-arg callable, extra tensors that stay alive)
    scratch: Callable  # (B·H, N, D, bytes per element, params) → bytes the call allocates (estimate)
    cuda_only: bool = False


def _dense(q, k, v, p):
    forbidden = ~sm.sliding_window(q.shape[-2], p.window, device=q.device)
    return (lambda: dense.dense_masked(q, k, v, forbidden)), (forbidden,)


def _sdpa_masked(q, k, v, p):
    allowed = sm.sliding_window(q.shape[-2], p.window, device=q.device)
    return (lambda: dense.sdpa_masked(q, k, v, allowed)), (allowed,)


def _flex_window(q, k, v, p):
    bm = flex.sliding_window_block_mask(q.shape[-2], p.window, q.device)
    return (lambda: flex.flex_masked(q, k, v, bm)), ()


def _flex_bigbird(q, k, v, p):
    g = torch.Generator().manual_seed(p.seed)
    allowed = sm.bigbird(q.shape[-2], p.block, p.num_random, 1, generator=g).to(q.device)
    bm = flex.pattern_block_mask(allowed)
    return (lambda: flex.flex_masked(q, k, v, bm)), (allowed,)


def _performer(q, k, v, p):
    omega = random_features(p.features, q.shape[-1], True, torch.Generator().manual_seed(p.seed)).to(q)
    return (lambda: lowrank.performer_linear(q, k, v, omega)), (omega,)


def _linformer(q, k, v, p):
    g = torch.Generator().manual_seed(p.seed)
    n = q.shape[-2]
    E, F = (projection_matrix(min(p.proj_dim, n), n, "gaussian", g).to(q) for _ in range(2))
    return (lambda: lowrank.linformer_linear(q, k, v, E, F)), (E, F)


KERNELS: dict[str, Kernel] = {
    kn.name: kn
    for kn in [
        Kernel(
            "sdpa_full",
            "full attention (SDPA)",
            lambda q, k, v, p: ((lambda: dense.sdpa_full(q, k, v)), ()),
            lambda bh, n, d, b, p: bh * n * d * b * 4,
        ),
        Kernel(
            "dense_masked",
            "dense-masked explicit (QKᵀ → mask → softmax → ·V)",
            _dense,
            lambda bh, n, d, b, p: 2 * bh * n * n * b + bh * n * d * b,
        ),
        Kernel(
            "sdpa_masked",
            "SDPA + boolean window mask",
            _sdpa_masked,
            lambda bh, n, d, b, p: bh * n * n * b + bh * n * d * b * 4,
        ),
        Kernel(
            "window_blockwise",
            "sliding window, blockwise O(N·w)",
            lambda q, k, v, p: ((lambda: local.sliding_window_blockwise(q, k, v, p.window)), ()),
            lambda bh, n, d, b, p: bh * (n + p.window) * (3 * d * b + 2 * b * 3 * max(1, p.window // 2)),
        ),
        Kernel(
            "flex_window",
            "FlexAttention sliding window (compiled)",
            _flex_window,
            lambda bh, n, d, b, p: bh * n * d * b * 2,
            cuda_only=True,
        ),
        Kernel(
            "flex_bigbird",
            "FlexAttention BigBird block-sparse (compiled)",
            _flex_bigbird,
            lambda bh, n, d, b, p: bh * n * d * b * 2 + n * n,
            cuda_only=True,
        ),
        Kernel(
            "performer", "Performer FAVOR+ (linear)", _performer, lambda bh, n, d, b, p: 4 * bh * n * p.features * b
        ),
        Kernel(
            "linformer",
            "Linformer (k projections)",
            _linformer,
            lambda bh, n, d, b, p: bh * n * min(p.proj_dim, n) * b * 2 + 4 * bh * p.proj_dim * d * b,
        ),
    ]
}


def kernel_available(name: str, device: torch.device | str) -> bool:
    kn = KERNELS[name]
    return not kn.cuda_only or flex.flex_available(device)
