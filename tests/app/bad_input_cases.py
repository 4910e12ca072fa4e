"""The bad-input corpus of test_bad_input_corpus.py (docs/ARCHITECTURE.md, "Bad input"): images, typed text,
uploaded text files, model names and model folders (including malicious pickles), each with the page it goes
through and the message it must produce. Images reuse helpers.bad_corpus() (also run through xviz.inputs in
tests/unit/test_images_inputs.py)."""

import io
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import torch
from helpers import bad_corpus, image_bytes
from PIL import Image

from xviz.pretrained.fetch import minilm_folder

VALID_TEXT = "The cat sat on the mat."


def gradient(w: int = 96, h: int = 72) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], -1).astype(np.uint8))


VALID_PNG = image_bytes(gradient(), "PNG")


# ---- images: the corpus of test_images_inputs plus oversized, markup-named and valid-but-awkward files ------
def accepted_images() -> dict[str, tuple[bytes, str]]:
    frames = [Image.new("RGB", (48, 48), c) for c in [(255, 0, 0), (0, 0, 255), (0, 255, 0)]]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pal = Image.new("P", (64, 48), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.info["transparency"] = 0
    pal.paste(0, (0, 0, 16, 48))
    exif = Image.Exif()
    exif[0x0112] = 6
    flt = Image.fromarray(np.linspace(-1, 1, 64 * 48, dtype=np.float32).reshape(48, 64), "F")
    arr16 = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    return {
        "animated-gif": (gif.getvalue(), "3 frames"),
        "16-bit": (image_bytes(Image.fromarray(arr16), "PNG"), "16-bit image scaled to 8 bits"),
        "cmyk-jpeg": (image_bytes(Image.new("CMYK", (64, 48), (0, 90, 200, 0)), "JPEG"), "CMYK image converted"),
        "palette+transparency": (image_bytes(pal, "PNG"), "Transparent areas are shown on white"),
        "rgba": (image_bytes(Image.new("RGBA", (64, 48), (0, 0, 0, 128))), "Transparent areas are shown on white"),
        "exif-rotated": (image_bytes(gradient(), "JPEG", exif=exif.tobytes()), "Rotated upright as its EXIF"),
        "3000x2000": (image_bytes(gradient(3000, 2000), "JPEG", quality=70), "Downscaled from 3000 × 2000"),
        "float32-tiff": (image_bytes(flt, "TIFF"), "Floating-point image rescaled"),
    }


def more_bombs() -> dict[str, tuple[bytes, str]]:
    """Headers of other formats declaring gigapixel sizes, and a picture one pixel too small."""
    gif = (
        b"GIF89a"
        + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
        + b","
        + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0)
        + b"\x02\x02\x44\x01\x00;"
    )
    jpg = bytearray(image_bytes(gradient(64, 48), "JPEG"))
    sof = jpg.find(b"\xff\xc0")
    jpg[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # SOF0: height, width
    return {
        "gif-bomb-65535²": (gif, "4,295 megapixels"),
        "jpeg-bomb-60000²": (bytes(jpg), "3,600 megapixels"),
        "15x15": (image_bytes(gradient(15, 15), "PNG"), "at least 16 px"),
    }


def image_cases() -> list[tuple[str, str, str, bytes, str, str]]:
    """(page, case, file name, bytes, message kind, needle)."""
    bad = {**bad_corpus(), **more_bombs()}
    bad["oversized-51MB"] = (b"\x89PNG\r\n\x1a\n" + bytes(51_000_000), "images are limited to 50 MB")
    bad["markup-filename"] = (b"", "is empty")
    ok = accepted_images()
    plan = {
        "attention/image": ["zero-byte", "truncated-png", "bomb-20000x20000", "1x1", "animated-gif", "exif-rotated"],
        "masking/image": ["text-file", "3x500", "palette+transparency"],
        "mae/image": [
            "truncated-jpeg",
            "bomb-60MP",
            "oversized-51MB",
            "markup-filename",
            "gif-bomb-65535²",
            "16-bit",
            "rgba",
        ],
        "swin/image": [
            "random-bytes",
            "svg",
            "too-wide",
            "jpeg-bomb-60000²",
            "15x15",
            "cmyk-jpeg",
            "3000x2000",
            "float32-tiff",
        ],
        "variants/image": ["pdf", "png-bad-crc-header", "gif-truncated", "bmp-header-only"],
    }
    planned = {c for cs in plan.values() for c in cs}
    assert planned == set(bad) | set(ok), "every corpus image is run through some page"
    cases = []
    for page, names in plan.items():
        for c in names:
            fname = "<b>BOLDX</b>.png" if c == "markup-filename" else f"{c}.png"
            data, needle = bad[c] if c in bad else ok[c]
            cases.append((page, c, fname, data, "error" if c in bad else "caption", needle))
    return cases


IMAGE_CASES = image_cases()


# ---- text typed into the pages' text areas ---------------------------------------------------------------
LONG = "word " * 600
TEXT_CASES = [  # (page, case, widget key, text, message kind or None = accepted, needle: message or token)
    ("attention/text", "empty", "attn_text", "", "error", "The text is empty"),
    ("attention/text", "whitespace", "attn_text", " \n\t  \u3000", "error", "The text is empty"),
    ("attention/text", "600 words (> 512 tokens)", "attn_text", LONG, "warning", "truncated to 512 tokens"),
    ("attention/text", "emoji", "attn_text", "🙂🚀 smile 👩‍👩‍👧", None, "smile"),
    ("attention/text", "CJK", "attn_text", "我爱北京天安门", None, "北"),
    ("attention/text", "RTL + override", "attn_text", "שלום עולם مرحبا \u202eevil\u202c", None, "ש"),
    ("attention/text", "control characters", "attn_text", "tab\tnul\x00esc\x1b[31mred\x07bell", None, "bell"),
    ("attention/text", "only control characters", "attn_text", "\x00\x01\x1b\x7f", "error", "The text is empty"),
    ("attention/text", "<script>", "attn_text", "<script>alert('XSS')</script> hi", None, "&lt;"),
    ("attention/text", "<b> markup", "attn_text", "<b>BOLDX</b> and <img src=x onerror=alert(1)>", None, "&lt;"),
    ("attention/text", "markdown + LaTeX", "attn_text", "**bold** [x](javascript:alert(1)) $x^2$ # h", None, "*"),
    ("attention/text", "150k characters", "attn_text", "x" * 150_000, "error", "the limit is 100,000"),
    ("masking/text", "empty", "mk_text", "", "error", "The text is empty"),
    ("masking/text", "blank lines", "mk_text", "\n  \n\t\n", "error", "The text is empty"),
    ("masking/text", "600 words (> 512 tokens)", "mk_text", LONG, "warning", "truncated to 512 tokens"),
    ("masking/text", "markup lines", "mk_text", "<b>BOLDX</b>\n<img src=x onerror=alert(1)>", None, ""),
    ("masking/effect", "600 words (> 512 tokens)", "mk_text", LONG, "warning", "truncated to 512 tokens"),
    ("masking/mlm", "whitespace", "mk_mlm_text", "   ", "error", "The text is empty"),
    ("variants/text", "empty", "var_text", "", "error", "The text is empty"),
    ("variants/text", "only control characters", "var_text", "\x00\x07", "error", "The text is empty"),
    ("variants/text", "600 words (> 512 tokens)", "var_text", LONG, "caption", "(truncated)"),
    ("variants/text", "<script> + <b>", "var_text", "<script>alert('XSS')</script> <b>BOLDX</b>", None, ""),
]
VALID_FOR = {
    "attn_text": VALID_TEXT,
    "mk_text": "The cat sat.\nDogs bark.",
    "mk_mlm_text": VALID_TEXT,
    "var_text": VALID_TEXT * 3,
}


# ---- text files uploaded to the attention page ------------------------------------------------------------
UPLOAD_CASES = [  # (case, file name, bytes, kind or None = accepted, needle)
    (
        "binary .txt, markup name",
        "<b>BOLDX</b>.txt",
        b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
        "error",
        "looks like a binary file",
    ),
    ("latin-1 .txt", "latin1.txt", "café crème brûlée".encode("latin-1"), "error", "is not UTF-8"),
    ("empty .txt", "empty.txt", b"", "error", "is empty"),
    ("1.2 MB .txt", "big.txt", b"spam " * 240_000, "error", "limited to 1 MB"),
    ("200k-character .txt", "long.txt", b"y" * 200_000, "error", "the limit is 100,000"),
    ("UTF-16 .txt with BOM", "utf16.txt", "Hello wörld, 北京.".encode("utf-16"), None, "Hello wörld, 北京."),
    ("UTF-8 BOM + CRLF .txt", "bom.txt", "\ufeffFirst line.\r\nSecond line.".encode("utf-8"), None, "First line."),
]


class Payload:
    """Pickles to code that writes a marker file: what a malicious checkpoint would do on torch.load."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def make_model_folders(root: Path) -> tuple[dict[str, str], str]:
    """The model-folder cases under root: (case -> folder path, the marker file that must never appear)."""
    marker = str(root / "PWNED")
    probe = root / "probe"
    pickle.loads(pickle.dumps(Payload(str(probe))))  # the payload is live: plain unpickling runs it
    assert probe.exists()
    mini = minilm_folder()
    bert_cfg = json.loads((mini / "config.json").read_text())
    tiny_vit = {
        "model_type": "vit",
        "hidden_size": 32,
        "num_hidden_layers": 6,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "image_size": 32,
        "patch_size": 16,
    }

    def make(name, cfg=None, files=(), vocab=False):
        d = root / name
        d.mkdir()
        if cfg is not None:
            (d / "config.json").write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
        if vocab:
            shutil.copy(mini / "vocab.txt", d / "vocab.txt")
        for fname, data in files:
            (d / fname).write_bytes(data) if isinstance(data, bytes) else os.symlink(data, d / fname)
        return str(d)

    evil = pickle.dumps({"embeddings.word_embeddings.weight": Payload(marker)})
    buf = io.BytesIO()
    torch.save({"w": Payload(marker)}, buf)
    bert_weights = [("model.safetensors", mini / "model.safetensors")]  # a symlink to MiniLM's real weights
    vit_384 = {**tiny_vit, "hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1536}
    bert_32 = {**bert_cfg, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
    out = {
        "no config.json": make("empty"),
        "config.json not JSON": make("badjson", "{'model_type': bert"),
        "gpt2 config, no weights": make("gpt2", {"model_type": "gpt2", "n_layer": 2}),
        "unknown model_type": make("unknown-mt", {"model_type": "not-a-transformer"}),
        "gpt2 pickle .bin": make("evil-gpt2", {"model_type": "gpt2", "n_layer": 2}, [("pytorch_model.bin", evil)]),
        "model_type is a list": make("mt-list", {"model_type": ["bert"]}),
        "bert config missing keys": make("bert-keys", {"model_type": "bert", "hidden_size": 32}),
        "vit config, string sizes": make("vit-str", {**tiny_vit, "hidden_size": "big"}),
        "vit config, BERT weights": make("vit-bert", vit_384, bert_weights),
        "bert config, wrong sizes": make("bert-small", bert_32, bert_weights, vocab=True),
        "corrupt safetensors": make("corrupt", bert_cfg, [("model.safetensors", b"\x08\x00" + b"junk" * 9)], True),
        "pickle as pytorch_model.bin": make("evil", bert_cfg, [("pytorch_model.bin", evil)], vocab=True),
        "torch.save pickle .bin": make("evil2", bert_cfg, [("pytorch_model.bin", buf.getvalue())], vocab=True),
        "pickle named .safetensors": make("evil3", tiny_vit, [("model.safetensors", evil)]),
        "missing folder": str(root / "does-not-exist"),
    }
    return out, marker


MODEL_CASES = [  # (case, typed name or a `folders` key, needle)
    ("unknown name", "gpt-17", "Unknown model"),
    ("empty name", "", "Type a folder path"),
    ("whitespace name", "   ", "Type a folder path"),
    ("markup name", "<b>BOLDX</b>", "Unknown model"),
    ("missing folder", None, "no such folder"),
    ("no config.json", None, "has no config.json"),
    ("config.json not JSON", None, "is not valid JSON"),
    ("gpt2 config, no weights", None, "has no *.safetensors weights"),
    ("unknown model_type", None, "is unknown to transformers"),
    ("gpt2 pickle .bin", None, "xviz refuses it"),
    ("model_type is a list", None, "is unknown to transformers"),
    ("bert config missing keys", None, "could not be loaded as a bert model (KeyError"),
    ("vit config, string sizes", None, "could not be loaded as a vit model (TypeError"),
    ("vit config, BERT weights", None, "wrong architecture"),
    ("bert config, wrong sizes", None, "do not fit the architecture"),
    ("corrupt safetensors", None, "Could not read model.safetensors"),
    ("pickle as pytorch_model.bin", None, "Refused to load pytorch_model.bin"),
    ("torch.save pickle .bin", None, "Refused to load pytorch_model.bin"),
    ("pickle named .safetensors", None, "Could not read model.safetensors"),
    ("hf: path traversal", "hf:../../etc/passwd", "is not a valid Hugging Face hub id"),
    ("hf: empty id", "hf:", "is not a valid Hugging Face hub id"),
    ("hf: three parts", "hf:owner/name/extra", "is not a valid Hugging Face hub id"),
    ("hf: spaces", "hf:some owner/x y", "is not a valid Hugging Face hub id"),
    ("hf: absent (offline)", "hf:xviz-nonexistent-owner/nothing-here", "Could not download"),
]
