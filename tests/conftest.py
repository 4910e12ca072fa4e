"""pytest hooks, thread and environment settings, and the fixtures shared by the test folders (unit/, oracle/, app/,
browser/); plain helper functions are in helpers.py."""

import os
import shutil

import pytest
import torch
from helpers import CHROMIUM_ARGS, ROOT, save_tiny_llama

# Two shared cores: more threads run 20-50x slower here.
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    has_gpu = torch.cuda.is_available()
    has_browser = shutil.which("chromium") is not None
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
        if "browser" in item.keywords and not has_browser:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium (apt-get install chromium)"))


@pytest.fixture(scope="session")
def minilm():
    import xviz

    return xviz.load_model("minilm-l6")


@pytest.fixture(scope="session")
def minilm_dir():
    from xviz.pretrained.fetch import minilm_folder

    return minilm_folder()


# ---- real browser: one Streamlit server for the whole session, Debian's chromium driven by Playwright ----
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


@pytest.fixture(scope="session")
def smollm2_dir():
    """SmolLM2-135M-Instruct as a cached HF-format folder (fetched and converted once, ~30 s, then offline)."""
    from xviz.pretrained.fetch import fetch_smollm2

    return fetch_smollm2()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A random-init tiny LlamaForCausalLM (GQA: 4 query / 2 KV heads, 3 layers, vocab 101) saved with
    save_pretrained; tokenizer-free (feed input_ids)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny_llama")
    cfg = LlamaConfig(
        vocab_size=101,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        with torch.no_grad():  # larger logits than the 0.02-std init, so decoding is not a near-tie lottery
            model.lm_head.weight.normal_(0, 0.5)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """helpers.save_tiny_llama's tiny random Llama with a tokenizer, one folder per test module (path as a str)."""
    return str(save_tiny_llama(tmp_path_factory.mktemp("tiny_llama")))
