"""Assembled models; importing this package registers every architecture and registry name."""
from xviz.models import text_encoder  # noqa: F401
from xviz.models import vit, dinov2_onnx  # noqa: F401
from xviz.models import swin  # noqa: F401
from xviz.models import mae, mae_hf  # noqa: F401
from xviz.models import seq2seq  # noqa: F401
from xviz.models import fetch  # noqa: F401
from xviz.models.loading import REGISTRY, available_models, load_model  # noqa: F401
from xviz.models import digit_vit  # noqa: F401  (vit-, mixer-, fnet-, cnn-digits)
