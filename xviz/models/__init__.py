"""Assembled models; importing this package registers every architecture and registry name."""

from xviz.models import (  # noqa: F401  # noqa: F401
    digit_vit,  # noqa: F401  (vit-, mixer-, fnet-, cnn-digits)
    dinov2_onnx,
    fetch,  # noqa: F401
    mae,
    mae_hf,
    seq2seq,  # noqa: F401
    swin,  # noqa: F401
    text_encoder,  # noqa: F401
    vit,
)
from xviz.models.loading import REGISTRY, available_models, load_model  # noqa: F401
