"""Cost models (density, FLOPs, memory from formulas), errors against full attention, and measured scaling.

FLOPs count a multiply-add as 2 and are per head; memory is the largest score-like intermediate per head, in
elements (× bytes per element for bytes). The formulas follow each paper's own complexity statement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from xviz.analysis.scaling import measure_scaling  # noqa: F401  (re-exported: measured cost lives here too)
from xviz.variants.catalog import PATTERNS, VariantParams


@dataclass(frozen=True)
class Cost:
    density: float       # fraction of the N² (query, key) pairs with a non-zero weight (1 for dense mixing)
    flops: float         # per head
    memory: float        # elements of the largest N-dependent intermediate, per head
    formula: str         # the FLOPs formula in words

    def relative_to(self, ref: "Cost") -> tuple[float, float]:
        return self.flops / ref.flops, self.memory / ref.memory


def cost_model(name: str, n: int, d: int, p: VariantParams, nnz: int | None = None) -> Cost:
    """Density, FLOPs and memory of variant `name` at length n, head dim d. `nnz` is the number of scored
    pairs for patterns and content-based sparsity (count it from the mask); else a formula is used."""
    nn_ = n * n
    if name == "full":
        return Cost(1.0, 4 * nn_ * d, nn_, "QKᵀ 2N²D + PV 2N²D")
    if name in PATTERNS or name == "kmeans":
        nnz = nn_ if nnz is None else nnz
        extra = 0 if name in PATTERNS else 10 * 2 * (2 * n) * p.n_clusters * d  # 10 k-means steps on 2N points
        return Cost(nnz / nn_, 4 * nnz * d + extra, nnz, "4·nnz·D" + (" + k-means" if extra else ""))
    if name == "lsh":
        c = math.ceil(n / p.n_buckets)
        pairs = min(nn_, p.n_hashes * n * 2 * c)
        hashing = 2 * (2 * n) * d * max(1, p.n_buckets // 2) * p.n_hashes
        return Cost(pairs / nn_, 4 * pairs * d + hashing, pairs, "rounds·4·N·2c·D + hashing")
    if name == "sinkhorn":
        nb = math.ceil(n / p.block)
        pairs = min(nn_, n * 2 * p.block)
        return Cost(pairs / nn_, 4 * pairs * d + 2 * nb * nb * d + 4 * n * d, pairs, "4·N·2b·D + sort net")
    if name == "linformer":
        k = min(p.proj_dim, n)
        return Cost(1.0, 8 * n * k * d, n * k, "EK, FV 4kND + scores and PV 4NkD")
    if name == "performer":
        m = p.features
        return Cost(1.0, 8 * n * m * d + 4 * n * m, 2 * n * m, "φ(Q), φ(K) 4NmD + φ(K)ᵀV, φ(Q)(·) 4NmD")
    if name == "synthesizer_dense":
        return Cost(1.0, 2 * n * d * d + 2 * nn_ * d + 2 * nn_ * d, nn_, "F₁ 2ND² + F₂ 2N²D + PV 2N²D")
    if name == "synthesizer_random":
        return Cost(1.0, 2 * nn_ * d, nn_, "PV 2N²D (R is a parameter)")
    if name == "fnet":
        fft = 5 * n * d * (math.log2(max(d, 2)) + math.log2(max(n, 2)))
        return Cost(1.0, fft, n * d, "FFTs 5·N·D·log₂(N·D)")
    raise ValueError(f"unknown variant {name!r}")


# ---- error against full attention -------------------------------------------------------------------------
def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """‖out − ref‖_F / ‖ref‖_F."""
    return float((out.double() - ref.double()).norm() / ref.double().norm().clamp_min(1e-30))


def is_distribution(attn: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """Rows that are probability distributions (non-negative, sum 1). (..., N) bool"""
    return (attn >= -tol).all(-1) & ((attn.sum(-1) - 1).abs() < 1e-3)


def rowwise_kl(attn: torch.Tensor, ref: torch.Tensor) -> float | None:
    """Mean over rows of KL(approx ‖ full) = Σ_j a_ij·log(a_ij / p_ij), on rows where the approximation is a
    distribution. For a sparse pattern this is −log(the full attention's mass on the kept keys). None when no
    row is a distribution (Linformer with signed projections, FNet)."""
    ok = is_distribution(attn)
    if not bool(ok.any()):
        return None
    a, p = attn[ok].double(), ref[ok].double()                             # (rows, N)
    terms = torch.where(a > 0, a * (a.clamp_min(1e-300).log() - p.clamp_min(1e-300).log()), torch.zeros_like(a))
    return float(terms.sum(-1).mean())


def topk_overlap(attn: torch.Tensor, ref: torch.Tensor, k: int = 5) -> float:
    """Mean over rows of |top-k keys of full ∩ top-k keys of the approximation (by |value|)| / k."""
    k = max(1, min(k, ref.shape[-1]))
    ta = attn.abs().topk(k, dim=-1).indices                                # (..., N, k)
    tr = ref.topk(k, dim=-1).indices
    hits = (ta[..., :, None] == tr[..., None, :]).any(-1).sum(-1)          # (..., N)
    return float(hits.double().mean() / k)


def attention_errors(out, attn, ref_out, ref_attn, k: int = 5) -> dict:
    """The three error measures of a variant against full attention, plus the rows it leaves empty."""
    empty = float((attn.abs().sum(-1) == 0).double().mean())
    return {"relative_error": relative_error(out, ref_out), "kl": rowwise_kl(attn, ref_attn),
            "topk_overlap": topk_overlap(attn, ref_attn, k), "empty_rows": empty}
