"""User-facing errors: their message is shown as is in the app (never a traceback)."""


class XvizError(Exception):
    """Base class: `str(err)` is a complete sentence a user can act on."""


class InputError(XvizError, ValueError):
    """Bad user input (text, image, parameters)."""


class ModelLoadError(XvizError):
    """A model name, folder or checkpoint that cannot be loaded."""


class ResourceError(XvizError):
    """A request that would not fit in memory; the message carries the estimate."""
