"""Run a variant on one head's Q/K/V and measure it against full attention (what the variants page shows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from xviz.analysis.cost import attention_errors
from xviz.variants import full
from xviz.variants.catalog import VARIANTS, variant
from xviz.variants.cost import Cost
from xviz.variants.params import VariantParams


@dataclass
class VariantResult:
    name: str
    label: str
    group: str
    out: torch.Tensor  # (N, D)
    attn: torch.Tensor  # (N, N) effective attention
    ref_attn: torch.Tensor  # (N, N) full softmax attention (causal when the variant is)
    support: torch.Tensor  # (N, N) bool: pairs the variant scores / mixes
    errors: dict
    cost: Cost
    cost_full: Cost
    causal: bool

    def row(self) -> dict:
        """One table row: density, cost relative to full, errors."""
        fl, mem = self.cost.relative_to(self.cost_full)
        e = self.errors
        return {
            "variant": self.label,
            "group": self.group,
            "density": self.cost.density,
            "FLOPs vs full": fl,
            "memory vs full": mem,
            "relative output error": e["relative_error"],
            "row KL(approx‖full)": e["kl"],
            "top-k overlap": e["topk_overlap"],
            "empty rows": e["empty_rows"],
            "causal": self.causal,
        }


def evaluate(
    name: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: VariantParams, topk: int = 5
) -> VariantResult:
    """q, k, v (N, D) of one head → the variant's output and attention, its errors and its cost model."""
    n, d = q.shape
    spec = variant(name)
    causal = spec.is_causal(p)
    ref_out, ref_attn = full(q, k, v, causal=causal)
    out, attn = spec.apply(q, k, v, p)
    support = spec.support_of(attn, p)
    return VariantResult(
        name,
        spec.label,
        spec.group,
        out,
        attn,
        ref_attn,
        support,
        attention_errors(out, attn, ref_out, ref_attn, topk),
        spec.cost(n, d, p, int(support.sum())),
        VARIANTS["full"].cost(n, d, p),
        causal,
    )


def evaluate_all(q, k, v, p: VariantParams, names: Sequence[str] | None = None, topk: int = 5) -> list[VariantResult]:
    return [evaluate(nm, q, k, v, p, topk) for nm in (names or list(VARIANTS))]
