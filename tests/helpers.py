"""Helpers shared by the tests (plain functions and constants; the fixtures are in conftest.py): paths, opening the
app in AppTest, reading its plotly figures, driving it in a real browser, and data builders used by several files.

Test files import them with `from helpers import ...` (conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository root
APP_PATH = os.path.join(ROOT, "app.py")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")  # screenshots of the browser tests (git-ignored)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# ---- AppTest: open the app, read its figures ------------------------------------------------------------------
def app_test(page: str | None = None, timeout: float = 180, query: dict | None = None, state: dict | None = None):
    """AppTest of the whole app (router + sidebar): `query` (URL) and `state` (session) set, run, switched to `page`."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP_PATH, default_timeout=timeout)
    at.query_params.update(query or {})
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def app_with_text_model(name: str, page: str, timeout: float = 300):
    """AppTest on `page` with `name` as the sidebar's text model (a folder: registered as a custom LM); no exception."""
    state = {} if name.startswith("smollm2") else {"custom_models_lm": [name]}  # as if added under "Add a model"
    at = app_test(page, timeout, state={**state, "model_text": name})
    assert not at.exception, [e.value for e in at.exception]
    return at


def figure_specs(at) -> list[str]:
    """The JSON text of every plotly figure on the page, in page order (for substring checks)."""
    return [c.proto.spec for c in at.get("plotly_chart")]


def figures(at) -> list[dict]:
    """Every plotly figure on the page as a dict (data, layout), in page order."""
    return [json.loads(s) for s in figure_specs(at)]


def title_of(fig: dict) -> str:
    """A figure's title text ("" if it has none)."""
    return fig["layout"].get("title", {}).get("text", "")


def figure_titled(at, text: str, match: str = "prefix") -> dict:
    """The first figure whose title starts with (match="prefix") or contains (match="contains") `text`."""
    figs = figures(at)
    for fig in figs:
        if title_of(fig).startswith(text) if match == "prefix" else text in title_of(fig):
            return fig
    raise AssertionError(f"no figure titled {text!r} ({match}); have {[title_of(f) for f in figs]}")


def figure_titles(at) -> str:
    """Titles and subplot titles of every plotly figure on the page, joined by " | "."""
    out = []
    for fig in figures(at):
        out.append(title_of(fig))
        out += [a.get("text", "") for a in fig["layout"].get("annotations", [])]
    return " | ".join(out)


def plotly_array(v) -> np.ndarray:
    """A plotly array as numpy: typed arrays ({dtype, bdata (base64), shape}, plotly ≥ 6) decoded, lists as float64."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return a.reshape([int(s) for s in str(v["shape"]).split(",")]) if "shape" in v else a
    return np.array(v, dtype=np.float64)


def heatmap_z(fig: dict) -> np.ndarray:
    """The z matrix of a figure's first trace (a heatmap)."""
    return plotly_array(fig["data"][0]["z"])


# ---- real browser (Playwright + Debian's chromium) --------------------------------------------------------------
_IDLE = """([since, settle]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = app && app.dataset.testScriptState === 'notRunning'
               && !document.querySelector('[data-testid="stStatusWidget"]');
  if (!idle) { window.__xvizIdleSince = undefined; return false; }
  if (!(window.__xvizIdleSince >= since)) window.__xvizIdleSince = performance.now();
  return performance.now() - window.__xvizIdleSince >= settle;
}"""


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit's script is not running (stApp's data-test-script-state) and has stayed so for 200 ms."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_timeout(300)  # a rerun just asked for by a click or a key reaches the server
    since = page.evaluate("() => performance.now()")
    page.wait_for_function(_IDLE, arg=[since, 200], timeout=timeout)


def click_and_expect(page, target, expect, timeout: float = 90_000, state: str = "visible") -> None:
    """When Streamlit is idle, click `target` (exact text or locator) once, then wait for `expect` (text or locator)."""
    wait_idle(page)  # a click that lands during a rerun can be lost: click only when no rerun is running
    (page.get_by_text(target, exact=True) if isinstance(target, str) else target).first.click()
    shown = page.get_by_text(expect) if isinstance(expect, (str, re.Pattern)) else expect
    shown.first.wait_for(state=state, timeout=timeout)
    wait_idle(page)


def image_file_input(page):
    """The file input of the pages' image uploader ("Upload an image …", shown once "Upload" is picked)."""
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="Upload an image").locator("input[type=file]")


def assert_no_exception(page) -> None:
    """No Streamlit exception box on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, "an exception box is shown"


def shot(page, name: str) -> str:
    """Save a full-page screenshot as tests/artifacts/<name>.png and return its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, f"{name}.png")
    # Streamlit scrolls an inner container, so full_page alone captures only the window: grow the window to
    # the content's height for the shot, then restore it.
    size = page.viewport_size
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    if size and height and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 6000)})
        page.wait_for_timeout(500)
    page.screenshot(path=path, full_page=True)
    if size:
        page.set_viewport_size(size)
    return path


# ---- data builders used by several test files ----------------------------------------------------------------
def image_bytes(im, fmt: str = "PNG", **kw) -> bytes:
    """A PIL image (or a uint8 array) encoded as `fmt` file bytes."""
    from PIL import Image

    buf = io.BytesIO()
    (Image.fromarray(im) if isinstance(im, np.ndarray) else im).save(buf, fmt, **kw)
    return buf.getvalue()


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose IHDR declares w × h (8-bit gray) with a tiny IDAT: a decompression-bomb header."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def bad_corpus() -> dict[str, tuple[bytes, str]]:
    """The bad-image corpus: name -> (file bytes, substring the message must contain)."""
    from PIL import Image

    def rgb(w=64, h=48):
        return Image.new("RGB", (w, h), (200, 30, 40))

    png = image_bytes(rgb(), "PNG")
    jpg = image_bytes(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8), "JPEG")
    return {
        "zero-byte": (b"", "empty"),
        "truncated-png": (png[: len(png) // 2], "truncated"),
        "truncated-jpeg": (jpg[: len(jpg) // 3], "truncated"),
        "text-file": (b"hello, this is not an image\n" * 10, "not an image"),
        "random-bytes": (np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image"),
        "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not an image"),
        "pdf": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "not an image"),
        "bomb-60MP": (_png_header_only(10_000, 6_000), "megapixels"),
        "bomb-20000x20000": (_png_header_only(20_000, 20_000), "400 megapixels"),
        "too-wide": (_png_header_only(20_000, 20), "per side"),
        "1x1": (image_bytes(rgb(1, 1), "PNG"), "at least"),
        "3x500": (image_bytes(rgb(3, 500), "PNG"), "at least"),
        "png-bad-crc-header": (png[:16] + b"\xff\xff\xff\xff" + png[20:40], "image"),
        "gif-truncated": (image_bytes(Image.new("P", (32, 32)), "GIF")[:30], "image"),
        "bmp-header-only": (image_bytes(rgb(), "BMP")[:54], "truncated"),
    }


TINY_LLAMA_CORPUS = [
    "The cat sat on the mat because it was tired.",
    "The dog sat on the mat.",
    "Attention is all you need.",
    "One two three four five six seven eight nine ten.",
    "Dogs bark. Cats sleep all afternoon.",
] * 4


def save_tiny_llama(
    folder: Path, seed: int = 0, layers: int = 2, heads: int = 4, hidden: int = 32, positions: int = 64
) -> Path:
    """A random-init tiny Llama (GQA: `heads` query / heads/2 KV heads) + byte-level BPE tokenizer saved in `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        TINY_LLAMA_CORPUS,
        trainers.BpeTrainer(
            vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        model_max_length=positions,
    )
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads // 2,
        max_position_embeddings=positions,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return Path(folder)


def hf_swin(cls_name: str = "SwinModel", image_size: int = 36, seed: int = 1, **kw):
    """A tiny transformers Swin (eager) with every weight randomised (HF inits bias tables to 0)."""
    import torch
    import transformers

    cfg = transformers.SwinConfig(
        image_size=image_size,
        patch_size=2,
        embed_dim=16,
        depths=[2, 2, 2],
        num_heads=[2, 2, 4],
        window_size=4,
        drop_path_rate=0.0,
        attn_implementation="eager",
        **kw,
    )
    model = getattr(transformers, cls_name)(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # randomise everything so each weight matters
        for n, p in model.named_parameters():
            one = 1.0 if (n.endswith("weight") and "norm" in n) else 0.0
            p.copy_(one + 0.3 * torch.randn(p.shape, generator=g))
    return model


def block_local_variant():
    """A second registration of block-local attention under a new name (what a newcomer's record looks like),
    registered by the tests that check a new record reaches every list; the mask is xviz's own."""
    from xviz.layers import sparse_masks as sm
    from xviz.variants import cost as C
    from xviz.variants.catalog import Variant

    def block_local(n, p):
        return sm.block_local(n, p.block)

    return Variant(
        "toy_block_local",
        "Block-local (toy)",
        "fixed pattern",
        "Attend within your own block only.",
        C.pattern,
        pattern=block_local,
        reads=("block",),
    )


# ---- tiny random-init Hugging Face checkpoints (the adapter's parity suite and its on-demand attention tests) ----
SMALL = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)


def _dec(name: str, **kw):
    """A tiny config of transformers' class `name` (imported when called: transformers is slow to import)."""

    def make():
        import transformers  # noqa: PLC0415

        return getattr(transformers, name)(vocab_size=97, max_position_embeddings=64, **{**SMALL, **kw})

    return make


def _gpt2():
    import transformers  # noqa: PLC0415

    return transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4)


CAUSAL = {
    "gpt2": _gpt2,
    "llama": _dec("LlamaConfig", num_key_value_heads=2),
    "qwen2": _dec("Qwen2Config", num_key_value_heads=2),
    "mistral": _dec("MistralConfig", num_key_value_heads=2, sliding_window=4),
    "gemma2": _dec(
        "Gemma2Config",
        num_key_value_heads=2,
        head_dim=16,  # wider than hidden_size / heads = 8, as real Gemma heads are
        sliding_window=4,
        attn_logit_softcapping=5.0,
        final_logit_softcapping=3.0,
        query_pre_attn_scalar=8,
    ),
    "phi3": _dec("Phi3Config", num_key_value_heads=2, pad_token_id=0),
}


def save_pretrained(model, tmp_path):
    model.save_pretrained(tmp_path)
    return tmp_path


def tiny_ids(n=10, b=2, left_pad=3, vocab=97):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (b, n), generator=g)
    mask = torch.ones_like(ids)
    if b > 1:
        mask[1, :left_pad] = 0
    return ids, mask
