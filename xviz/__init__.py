"""xviz: see inside Transformers. The public API (docs/ARCHITECTURE.md)."""

from xviz.device import pick_device
from xviz.errors import InputError, ModelLoadError, ResourceError, XvizError
from xviz.hooks import HookPoint, Recording, hook_names, record
from xviz.pretrained import available_models, load_model

__all__ = [
    "HookPoint",
    "Recording",
    "record",
    "hook_names",
    "load_model",
    "available_models",
    "pick_device",
    "XvizError",
    "InputError",
    "ModelLoadError",
    "ResourceError",
]
__version__ = "0.1.0"
