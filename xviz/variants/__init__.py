"""Efficient-attention variants on given Q/K/V: each `(q, k, v, **params) → (out, attn)`.

q, k, v are (N, D) or (B, H, N, D); `attn` is the variant's effective (or approximate) attention matrix, so
out = attn · V for every variant except FNet (whose hidden-axis FFT is documented in xviz.variants.exact.fnet).
The page's list is `VARIANTS` (catalog.py: one record per variant); its knobs and their sliders are `PARAMS`
(params.py); the cost formulas are in cost.py.
"""

from xviz.variants.catalog import (
    PATTERNS,
    VARIANTS,
    Variant,
    cost_model,
    is_causal,
    pattern_mask,
    run_variant,
    used_params,
)
from xviz.variants.clustering import kmeans, lsh, sinkhorn
from xviz.variants.cost import Cost
from xviz.variants.exact import fnet, full, masked
from xviz.variants.lowrank import linformer, performer, synthesizer
from xviz.variants.params import PARAMS, Param, VariantParams

__all__ = [
    "full",
    "masked",
    "lsh",
    "kmeans",
    "linformer",
    "performer",
    "synthesizer",
    "sinkhorn",
    "fnet",
    "VARIANTS",
    "PATTERNS",
    "Variant",
    "VariantParams",
    "PARAMS",
    "Param",
    "Cost",
    "cost_model",
    "is_causal",
    "pattern_mask",
    "run_variant",
    "used_params",
]
