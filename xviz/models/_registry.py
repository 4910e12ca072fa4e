"""Which HF `model_type`s xviz implements itself: each model file registers a loader for its types, so a
Hugging Face folder of those types loads into xviz's own module (machinery: the models import this, not the reverse).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from xviz.errors import ModelLoadError, XvizError
from xviz.models._checkpoint import check_model_size, read_config

ARCHITECTURES: dict[str, Callable[[Path], nn.Module]] = {}  # HF model_type -> loader(folder)


def register_architecture(*model_types: str):
    def deco(loader: Callable[[Path], nn.Module]):
        for t in model_types:
            ARCHITECTURES[t] = loader
        return loader

    return deco


def load_own_folder(folder: Path) -> nn.Module:
    cfg = read_config(folder)
    mtype = cfg.get("model_type")
    if not isinstance(mtype, str) or mtype not in ARCHITECTURES:
        raise ModelLoadError(
            f"Architecture {mtype!r} in {folder} has no xviz implementation (those are: "
            f"{', '.join(sorted(ARCHITECTURES))}); load it with backend='hf'."
        )
    check_model_size(cfg, str(folder))
    try:
        return ARCHITECTURES[mtype](Path(folder))
    except XvizError:
        raise
    except Exception as err:  # a config.json / checkpoint the loader did not expect: a message, not a traceback
        raise ModelLoadError(
            f"{folder} could not be loaded as a {mtype} model ({type(err).__name__}: "
            f"{str(err)[:200]}); check its config.json and weights."
        ) from None
