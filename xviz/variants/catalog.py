"""The page's list of variants: one shared, hashable parameter set and one call per variant name."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from xviz.layers import sparse_masks as sm
from xviz.variants.clustering import kmeans, lsh, sinkhorn
from xviz.variants.exact import fnet, full, masked
from xviz.variants.lowrank import linformer, performer, synthesizer


@dataclass(frozen=True)
class VariantParams:
    """Every knob of every variant (plain values: hashable, cacheable, shareable in a URL)."""
    window: int = 8            # sliding window / Longformer: |i − j| ≤ window/2
    dilation: int = 2          # dilated window
    stride: int = 4            # strided, Sparse Transformer l
    summary: int = 1           # Sparse Transformer fixed: c summary positions per block
    n_global: int = 1          # global tokens (the first n_global positions)
    block: int = 4             # BigBird and Sinkhorn block size
    num_random: int = 1        # BigBird random blocks per block row
    n_buckets: int = 4         # LSH buckets (1 or even)
    n_hashes: int = 2          # LSH rounds
    shared_qk: bool = False    # Reformer shared-QK
    n_clusters: int = 3        # routing k-means
    proj_dim: int = 8          # Linformer k
    projection: str = "pool"   # Linformer E, F: "pool" (segment means) or "gaussian" (JL)
    features: int = 64         # Performer m
    orthogonal: bool = True
    causal: bool = False       # causal versions of window / strided patterns and the approximations
    seed: int = 0

    def replace(self, **kw) -> "VariantParams":
        return dataclasses.replace(self, **kw)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    group: str            # "exact" | "fixed pattern" | "learned pattern" | "low rank / kernel" | "attention-free"
    note: str
    causal: bool = False  # always causal (Sparse Transformer patterns)


VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("full", "Full softmax", "exact", "Every query attends to every key: the reference."),
    Variant("sliding_window", "Sliding window", "fixed pattern", "|i − j| ≤ w/2 (local / truncated)."),
    Variant("dilated", "Dilated window", "fixed pattern", "|i − j| ≤ d·w/2 and (i − j) mod d = 0."),
    Variant("strided", "Strided", "fixed pattern", "(i − j) mod stride = 0."),
    Variant("global", "Global tokens", "fixed pattern", "The first tokens see and are seen by all (+ diagonal)."),
    Variant("longformer", "Longformer", "fixed pattern", "Sliding window ∪ global tokens."),
    Variant("bigbird", "BigBird", "fixed pattern",
            "Blocks: window of 3, first/last global, r random; pays off beyond ~(5 + 2r)·block tokens."),
    Variant("sparse_strided", "Sparse Transformer (strided)", "fixed pattern",
            "Causal: previous l positions ∪ every l-th.", causal=True),
    Variant("sparse_fixed", "Sparse Transformer (fixed)", "fixed pattern",
            "Causal: own block of l ∪ last c of every block.", causal=True),
    Variant("axial", "Axial", "fixed pattern", "Same row or same column of a near-square grid."),
    Variant("lsh", "Reformer LSH", "learned pattern", "Hash by random rotations, sort, chunk, attend back one."),
    Variant("kmeans", "Routing (k-means)", "learned pattern", "Cluster queries and keys; attend within clusters."),
    Variant("sinkhorn", "Sinkhorn sorting", "learned pattern", "Own block + the block sorted into its place."),
    Variant("linformer", "Linformer", "low rank / kernel", "Project keys/values from N to k rows."),
    Variant("performer", "Performer (FAVOR+)", "low rank / kernel", "Positive random features, m of them."),
    Variant("synthesizer_dense", "Synthesizer (dense)", "low rank / kernel",
            "Each row from one token's own features (untrained)."),
    Variant("synthesizer_random", "Synthesizer (random)", "low rank / kernel",
            "An input-independent random matrix (untrained)."),
    Variant("fnet", "FNet (Fourier)", "attention-free",
            "Fixed DFT token mixing, no softmax: its output scale is not attention's, so its error is large."),
]}

PATTERNS = {"sliding_window", "dilated", "strided", "global", "longformer", "bigbird", "sparse_strided",
            "sparse_fixed", "axial"}


def is_causal(name: str, p: VariantParams) -> bool:
    """Whether the variant (with these parameters) is causal: its reference is then causal full attention."""
    if name in ("fnet", "linformer"):  # no causal form
        return False
    return VARIANTS[name].causal or p.causal


def pattern_mask(name: str, n: int, p: VariantParams) -> torch.Tensor:
    """The fixed sparsity pattern of a pattern variant, (N, N) bool (global, longformer and bigbird keep the
    diagonal so every row has a key)."""
    g = torch.Generator().manual_seed(p.seed)
    glob = list(range(min(p.n_global, n)))
    masks = {
        "sliding_window": lambda: sm.sliding_window(n, p.window, causal=p.causal),
        "dilated": lambda: sm.dilated(n, p.window, p.dilation),
        "strided": lambda: sm.strided(n, p.stride, causal=p.causal),
        "global": lambda: sm.global_tokens(n, glob) | torch.eye(n, dtype=torch.bool),
        "longformer": lambda: sm.longformer(n, p.window, glob),
        "bigbird": lambda: sm.bigbird(n, p.block, p.num_random, 1, generator=g),
        "sparse_strided": lambda: sm.sparse_strided(n, p.stride),
        "sparse_fixed": lambda: sm.sparse_fixed(n, p.stride, min(p.summary, p.stride)),
        "axial": lambda: sm.axial(*sm.axial_grid(n))[:n, :n],
    }
    m = masks[name]()
    if p.causal and name not in ("sliding_window", "strided"):
        m = m & torch.ones(n, n, dtype=torch.bool).tril()
    return m


def run_variant(name: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: VariantParams):
    """(out, attn) of variant `name` on q/k/v ((N, D) or (B, H, N, D)) with the page's parameters."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}")
    n, c = q.shape[-2], is_causal(name, p)
    if name in PATTERNS:
        return masked(q, k, v, pattern_mask(name, n, p).to(q.device))
    calls = {
        "full": lambda: full(q, k, v, causal=c),
        "lsh": lambda: lsh(q, k, v, n_buckets=p.n_buckets, n_hashes=p.n_hashes, shared_qk=p.shared_qk,
                           causal=c, seed=p.seed),
        "kmeans": lambda: kmeans(q, k, v, n_clusters=p.n_clusters, causal=c, seed=p.seed),
        "sinkhorn": lambda: sinkhorn(q, k, v, block=p.block, causal=c),
        "linformer": lambda: linformer(q, k, v, proj_dim=min(p.proj_dim, n), projection=p.projection,
                                       seed=p.seed),
        "performer": lambda: performer(q, k, v, m=p.features, orthogonal=p.orthogonal, causal=c, seed=p.seed),
        "synthesizer_dense": lambda: synthesizer(q, k, v, "dense", causal=c, seed=p.seed),
        "synthesizer_random": lambda: synthesizer(q, k, v, "random", causal=c, seed=p.seed),
        "fnet": lambda: fnet(q, k, v),
    }
    return calls[name]()
