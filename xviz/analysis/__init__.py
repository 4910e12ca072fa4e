"""Pure-torch analyses of recordings and small experiments (no streamlit)."""

from xviz.analysis.grad_norms import layer_grad_norms  # noqa: F401  (public API)
