"""The one gate every user input passes: validation and normalisation with clear messages
(docs/ARCHITECTURE.md, "Bad input")."""

from xviz.inputs.image import LoadedImage, image_digest, load_image  # noqa: F401
from xviz.inputs.image_batch import IMAGENET_MEAN, IMAGENET_STD, ImageBatch, denormalise, normalise  # noqa: F401
from xviz.inputs.text import clean_text, decode_text_upload  # noqa: F401
