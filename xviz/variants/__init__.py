"""Efficient-attention variants on given Q/K/V: each `(q, k, v, **params) → (out, attn)`.

q, k, v are (N, D) or (B, H, N, D); `attn` is the variant's effective (or approximate) attention matrix, so
out = attn · V for every variant except FNet (whose hidden-axis FFT is documented in xviz.variants.exact.fnet).
"""
from xviz.variants.catalog import PATTERNS, VARIANTS, Variant, VariantParams, pattern_mask, run_variant
from xviz.variants.clustering import kmeans, lsh, sinkhorn
from xviz.variants.exact import fnet, full, masked
from xviz.variants.lowrank import linformer, performer, synthesizer

__all__ = ["full", "masked", "lsh", "kmeans", "linformer", "performer", "synthesizer", "sinkhorn", "fnet",
           "VARIANTS", "PATTERNS", "Variant", "VariantParams", "pattern_mask", "run_variant"]
