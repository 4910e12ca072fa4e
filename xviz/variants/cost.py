"""Cost models of the variants: density, FLOPs and memory from formulas, one function per variant record.

FLOPs count a multiply-add as 2 and are per head; memory is the largest score-like intermediate per head, in
elements (× bytes per element for bytes). The formulas follow each paper's own complexity statement. Every
function is `(n, d, p, nnz) → Cost`: `nnz` is the number of scored pairs for patterns and content-based
sparsity (counted from the mask; None: the formula's own estimate), ignored by the dense ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xviz.variants.params import VariantParams


@dataclass(frozen=True)
class Cost:
    density: float  # fraction of the N² (query, key) pairs with a non-zero weight (1 for dense mixing)
    flops: float  # per head
    memory: float  # elements of the largest N-dependent intermediate, per head
    formula: str  # the FLOPs formula in words

    def relative_to(self, ref: Cost) -> tuple[float, float]:
        return self.flops / ref.flops, self.memory / ref.memory


def full(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    return Cost(1.0, 4 * nn_ * d, nn_, "QKᵀ 2N²D + PV 2N²D")


def pattern(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    """A fixed pattern: scores and PV only on its nnz pairs."""
    nn_ = n * n
    nnz = nn_ if nnz is None else nnz
    return Cost(nnz / nn_, 4 * nnz * d, nnz, "4·nnz·D")


def kmeans(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    nnz = nn_ if nnz is None else nnz
    extra = 10 * 2 * (2 * n) * p.n_clusters * d  # 10 k-means steps on 2N points
    return Cost(nnz / nn_, 4 * nnz * d + extra, nnz, "4·nnz·D + k-means")


def lsh(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    c = math.ceil(n / p.n_buckets)
    pairs = min(nn_, p.n_hashes * n * 2 * c)
    hashing = 2 * (2 * n) * d * max(1, p.n_buckets // 2) * p.n_hashes
    return Cost(pairs / nn_, 4 * pairs * d + hashing, pairs, "rounds·4·N·2c·D + hashing")


def sinkhorn(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    nb = math.ceil(n / p.block)
    pairs = min(nn_, n * 2 * p.block)
    return Cost(pairs / nn_, 4 * pairs * d + 2 * nb * nb * d + 4 * n * d, pairs, "4·N·2b·D + sort net")


def linformer(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    k = min(p.proj_dim, n)
    return Cost(1.0, 8 * n * k * d, n * k, "EK, FV 4kND + scores and PV 4NkD")


def performer(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    m = p.features
    return Cost(1.0, 8 * n * m * d + 4 * n * m, 2 * n * m, "φ(Q), φ(K) 4NmD + φ(K)ᵀV, φ(Q)(·) 4NmD")


def synthesizer_dense(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    return Cost(1.0, 2 * n * d * d + 2 * nn_ * d + 2 * nn_ * d, nn_, "F₁ 2ND² + F₂ 2N²D + PV 2N²D")


def synthesizer_random(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    nn_ = n * n
    return Cost(1.0, 2 * nn_ * d, nn_, "PV 2N²D (R is a parameter)")


def fnet(n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    fft = 5 * n * d * (math.log2(max(d, 2)) + math.log2(max(n, 2)))
    return Cost(1.0, fft, n * d, "FFTs 5·N·D·log₂(N·D)")
