"""xviz's own architectures, one per file. Importing this package registers the Hugging Face `model_type`s each
one loads (`_registry.ARCHITECTURES`), so `load_model(<HF folder>)` finds them."""

from xviz.models import mae_hf, swin, text_encoder, vit  # noqa: F401  (their @register_architecture run here)
