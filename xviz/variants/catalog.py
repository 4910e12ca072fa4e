"""The page's list of variants: one record per variant (how it runs, its pattern, its cost formula, its causal
policy, the knobs it reads), all in `VARIANTS`. The page, the gallery, the cost table and evaluate_all iterate
this registry; a new variant is one record here (plus its algorithm and its cost formula in xviz.variants.cost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from xviz.layers import masks
from xviz.layers import sparse_masks as sm
from xviz.variants import cost
from xviz.variants.clustering import kmeans, lsh, sinkhorn
from xviz.variants.exact import fnet, full, masked
from xviz.variants.lowrank import linformer, performer, synthesizer
from xviz.variants.params import PARAMS, VariantParams

GROUPS = ("exact", "fixed pattern", "learned pattern", "low rank / kernel", "attention-free")
CAUSAL_POLICIES = ("param", "always", "never")  # follows params.causal | always causal | has no causal form
SUPPORTS = ("weights", "dense")  # pairs it computes: those that got a weight | every pair (dense mixing)


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    group: str  # one of GROUPS
    note: str
    cost: Callable  # (n, d, params, nnz) → Cost (xviz.variants.cost)
    run: Callable | None = None  # (q, k, v, params, causal) → (out, attn); None: masked attention on `pattern`
    pattern: Callable | None = None  # (n, params) → (N, N) bool, before the causal cut
    causal: str = "param"  # one of CAUSAL_POLICIES
    reads: tuple[str, ...] = ()  # the VariantParams fields it reads (causal aside: see `causal`)
    support: str = "weights"  # one of SUPPORTS; a pattern's support is the pattern itself

    def __post_init__(self):
        if (self.run is None) == (self.pattern is None):
            raise ValueError(f"{self.name}: give exactly one of run and pattern")
        bad = [r for r in self.reads if r not in PARAMS or r == "causal"]
        if self.group not in GROUPS or self.causal not in CAUSAL_POLICIES or self.support not in SUPPORTS or bad:
            raise ValueError(f"{self.name}: bad group, causal policy, support or reads {bad}")

    def is_causal(self, p: VariantParams) -> bool:
        """Whether it is causal with these parameters: its reference is then causal full attention."""
        return self.causal == "always" or (self.causal == "param" and p.causal)

    def mask(self, n: int, p: VariantParams) -> torch.Tensor:
        """The fixed sparsity pattern of a pattern variant, (N, N) bool, cut to j ≤ i when causal."""
        m = self.pattern(n, p)
        if self.is_causal(p):  # a no-op for masks built causal (sliding window, strided, Sparse Transformer)
            m = m & masks.causal(n)
        return m

    def apply(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: VariantParams):
        """(out, attn) on q/k/v ((N, D) or (B, H, N, D))."""
        if self.pattern is not None:
            return masked(q, k, v, self.mask(q.shape[-2], p).to(q.device))
        return self.run(q, k, v, p, self.is_causal(p))

    def support_of(self, attn: torch.Tensor, p: VariantParams) -> torch.Tensor:
        """(N, N) bool: the pairs it scores or mixes (what its density and nnz count)."""
        n = attn.shape[-1]
        if self.pattern is not None:  # the pattern itself (an allowed pair's weight can underflow to exactly 0)
            return self.mask(n, p)
        if self.support == "dense":  # every pair contributes
            s = torch.ones(n, n, dtype=torch.bool)
            return s.tril() if self.is_causal(p) else s
        return attn != 0  # content-based patterns: the pairs that got a weight


# ---- patterns: (n, p) → (N, N) bool; global, longformer and bigbird keep the diagonal so every row has a key ----
def _globals(n: int, p: VariantParams) -> list[int]:
    return list(range(min(p.n_global, n)))


def _sliding_window(n, p):
    return sm.sliding_window(n, p.window, causal=p.causal)


def _dilated(n, p):
    return sm.dilated(n, p.window, p.dilation)


def _strided(n, p):
    return sm.strided(n, p.stride, causal=p.causal)


def _global(n, p):
    return sm.global_tokens(n, _globals(n, p)) | torch.eye(n, dtype=torch.bool)


def _longformer(n, p):
    return sm.longformer(n, p.window, _globals(n, p))


def _bigbird(n, p):
    return sm.bigbird(n, p.block, p.num_random, 1, generator=torch.Generator().manual_seed(p.seed))


def _sparse_strided(n, p):
    return sm.sparse_strided(n, p.stride)


def _sparse_fixed(n, p):
    return sm.sparse_fixed(n, p.stride, min(p.summary, p.stride))


def _block_local(n, p):
    return sm.block_local(n, p.block)


def _axial(n, p):
    return sm.axial(*sm.axial_grid(n))[:n, :n]


# ---- runs: (q, k, v, p, causal) → (out, attn) -------------------------------------------------------------------
def _full(q, k, v, p, causal):
    return full(q, k, v, causal=causal)


def _lsh(q, k, v, p, causal):
    return lsh(q, k, v, n_buckets=p.n_buckets, n_hashes=p.n_hashes, shared_qk=p.shared_qk, causal=causal, seed=p.seed)


def _kmeans(q, k, v, p, causal):
    return kmeans(q, k, v, n_clusters=p.n_clusters, causal=causal, seed=p.seed)


def _sinkhorn(q, k, v, p, causal):
    return sinkhorn(q, k, v, block=p.block, causal=causal)


def _linformer(q, k, v, p, causal):  # no causal form: projecting the keys mixes the future in
    return linformer(q, k, v, proj_dim=min(p.proj_dim, q.shape[-2]), projection=p.projection, seed=p.seed)


def _performer(q, k, v, p, causal):
    return performer(q, k, v, m=p.features, orthogonal=p.orthogonal, causal=causal, seed=p.seed)


def _synthesizer_dense(q, k, v, p, causal):
    return synthesizer(q, k, v, "dense", causal=causal, seed=p.seed)


def _synthesizer_random(q, k, v, p, causal):
    return synthesizer(q, k, v, "random", causal=causal, seed=p.seed)


def _fnet(q, k, v, p, causal):  # no causal form: the DFT mixes every position
    return fnet(q, k, v)


# ---- the registry ---------------------------------------------------------------------------------------------
_FIXED, _LEARNED, _LOWRANK = "fixed pattern", "learned pattern", "low rank / kernel"

# a table, one variant per entry: kept as written
# fmt: off
VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("full", "Full softmax", "exact", "Every query attends to every key: the reference.", cost.full, _full),
    Variant("sliding_window", "Sliding window", _FIXED, "|i − j| ≤ w/2 (local / truncated).", cost.pattern,
            pattern=_sliding_window, reads=("window",)),
    Variant("dilated", "Dilated window", _FIXED, "|i − j| ≤ d·w/2 and (i − j) mod d = 0.", cost.pattern,
            pattern=_dilated, reads=("window", "dilation")),
    Variant("strided", "Strided", _FIXED, "(i − j) mod stride = 0.", cost.pattern, pattern=_strided,
            reads=("stride",)),
    Variant("global", "Global tokens", _FIXED, "The first tokens see and are seen by all (+ diagonal).", cost.pattern,
            pattern=_global, reads=("n_global",)),
    Variant("longformer", "Longformer", _FIXED, "Sliding window ∪ global tokens.", cost.pattern, pattern=_longformer,
            reads=("window", "n_global")),
    Variant("bigbird", "BigBird", _FIXED,
            "Blocks: window of 3, first/last global, r random; pays off beyond ~(5 + 2r)·block tokens.", cost.pattern,
            pattern=_bigbird, reads=("block", "num_random", "seed")),
    Variant("sparse_strided", "Sparse Transformer (strided)", _FIXED, "Causal: previous l positions ∪ every l-th.",
            cost.pattern, pattern=_sparse_strided, causal="always", reads=("stride",)),
    Variant("sparse_fixed", "Sparse Transformer (fixed)", _FIXED, "Causal: own block of l ∪ last c of every block.",
            cost.pattern, pattern=_sparse_fixed, causal="always", reads=("stride", "summary")),
    Variant("axial", "Axial", _FIXED, "Same row or same column of a near-square grid.", cost.pattern, pattern=_axial),
    Variant("block_local", "Block-local", _FIXED, "Own block of b only: cheap, but nothing crosses a block border.",
            cost.pattern, pattern=_block_local, reads=("block",)),
    Variant("lsh", "Reformer LSH", _LEARNED, "Hash by random rotations, sort, chunk, attend back one.", cost.lsh, _lsh,
            reads=("n_buckets", "n_hashes", "shared_qk", "seed")),
    Variant("kmeans", "Routing (k-means)", _LEARNED, "Cluster queries and keys; attend within clusters.", cost.kmeans,
            _kmeans, reads=("n_clusters", "seed")),
    Variant("sinkhorn", "Sinkhorn sorting", _LEARNED, "Own block + the block sorted into its place.", cost.sinkhorn,
            _sinkhorn, reads=("block",)),
    Variant("linformer", "Linformer", _LOWRANK, "Project keys/values from N to k rows.", cost.linformer, _linformer,
            causal="never", reads=("proj_dim", "projection", "seed"), support="dense"),
    Variant("performer", "Performer (FAVOR+)", _LOWRANK, "Positive random features, m of them.", cost.performer,
            _performer, reads=("features", "orthogonal", "seed"), support="dense"),
    Variant("synthesizer_dense", "Synthesizer (dense)", _LOWRANK,
            "Each row from one token's own features (untrained).", cost.synthesizer_dense, _synthesizer_dense,
            reads=("seed",), support="dense"),
    Variant("synthesizer_random", "Synthesizer (random)", _LOWRANK, "An input-independent random matrix (untrained).",
            cost.synthesizer_random, _synthesizer_random, reads=("seed",), support="dense"),
    Variant("fnet", "FNet (Fourier)", "attention-free",
            "Fixed DFT token mixing, no softmax: its output scale is not attention's, so its error is large.",
            cost.fnet,
            _fnet, causal="never", support="dense"),
]}
# fmt: on

PATTERNS = frozenset(n for n, v in VARIANTS.items() if v.pattern is not None)  # the fixed-pattern variants


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}")
    return VARIANTS[name]


def is_causal(name: str, p: VariantParams) -> bool:
    return variant(name).is_causal(p)


def pattern_mask(name: str, n: int, p: VariantParams) -> torch.Tensor:
    return variant(name).mask(n, p)


def run_variant(name: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: VariantParams):
    """(out, attn) of variant `name` on q/k/v ((N, D) or (B, H, N, D)) with the page's parameters."""
    return variant(name).apply(q, k, v, p)


def cost_model(name: str, n: int, d: int, p: VariantParams, nnz: int | None = None) -> cost.Cost:
    """Density, FLOPs and memory of variant `name` at length n, head dim d. `nnz` is the number of scored
    pairs for patterns and content-based sparsity (count it from the mask); else a formula is used."""
    return variant(name).cost(n, d, p, nnz)


def used_params() -> list[str]:
    """The knobs some registered variant reads, in PARAMS order (causal always: every "param" variant reads it)."""
    read = {r for v in VARIANTS.values() for r in v.reads} | {"causal"}
    return [name for name in PARAMS if name in read]
