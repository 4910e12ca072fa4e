"""The Hugging Face adapter: any transformers model whose attention goes through transformers' attention
interface records xviz's hook names (`model.py`), loaded from safetensors only (`load.py`)."""

from xviz.adapters.hf.load import load_hf_model
from xviz.adapters.hf.model import HFModel

__all__ = ["HFModel", "load_hf_model"]
