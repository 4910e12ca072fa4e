"""Errors of a variant against full attention; the cost models (formulas, per variant record) and the measured
scaling are re-exported from where they live (xviz.variants.cost, xviz.analysis.scaling)."""

from __future__ import annotations

import torch

from xviz.analysis.scaling import measure_scaling  # noqa: F401  (re-exported: measured cost lives here too)
from xviz.variants.catalog import cost_model  # noqa: F401  (re-exported: the formulas live with each variant)
from xviz.variants.cost import Cost  # noqa: F401


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
    a, p = attn[ok].double(), ref[ok].double()  # (rows, N)
    terms = torch.where(a > 0, a * (a.clamp_min(1e-300).log() - p.clamp_min(1e-300).log()), torch.zeros_like(a))
    return float(terms.sum(-1).mean())


def topk_overlap(attn: torch.Tensor, ref: torch.Tensor, k: int = 5) -> float:
    """Mean over rows of |top-k keys of full ∩ top-k keys of the approximation (by |value|)| / k."""
    k = max(1, min(k, ref.shape[-1]))
    ta = attn.abs().topk(k, dim=-1).indices  # (..., N, k)
    tr = ref.topk(k, dim=-1).indices
    hits = (ta[..., :, None] == tr[..., None, :]).any(-1).sum(-1)  # (..., N)
    return float(hits.double().mean() / k)


def attention_errors(out, attn, ref_out, ref_attn, k: int = 5) -> dict:
    """The three error measures of a variant against full attention, plus the rows it leaves empty."""
    empty = float((attn.abs().sum(-1) == 0).double().mean())
    return {
        "relative_error": relative_error(out, ref_out),
        "kl": rowwise_kl(attn, ref_attn),
        "topk_overlap": topk_overlap(attn, ref_attn, k),
        "empty_rows": empty,
    }
