"""Load test: N simultaneous browser sessions on one Streamlit server, each recording its own sentence.

    python benchmarks/load_test.py [--sessions 8] [--runs 200] [--port 8599] [--model smollm2-135m]

Each session types a sentence with a unique marker word, waits for the head heatmap, and checks that the
figure's tokens are its own (no session sees another's data). Reports errors, cross-talk, and the server's
RSS before and after the runs (memory should stay flat once the caches are full).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import xviz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--server.headless=true",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not start")


def wait_for_ticks(page, tokens: list[str]) -> list[str]:
    """Wait until the head heatmap's x-axis shows exactly `tokens` (this session's own input); return them."""
    page.wait_for_function(
        "t => { const a = Array.from(document.querySelectorAll('.xtick text')).map(e => e.textContent.trim());"
        " return a.length >= t.length && t.every((x, i) => a[i] === x); }",
        arg=tokens,
        timeout=180_000,
    )
    return page.evaluate("() => Array.from(document.querySelectorAll('.xtick text')).map(e => e.textContent.trim())")


def own_tokens(model, text: str) -> list[str]:
    """The tick labels this session's text must produce (as the heatmap shows them, trimmed)."""
    return [t.strip() for t in model.prepare(text).tokens[0]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--port", type=int, default=8599)
    ap.add_argument("--model", default="minilm-l6", help="the sidebar's text model (e.g. smollm2-135m)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    tok = xviz.load_model(args.model)  # the expected tokens of each session's own text
    server = start_server(args.port)
    errors = crosstalk = done = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            pages = []
            for _ in range(args.sessions):
                pg = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                pg.goto(f"http://127.0.0.1:{args.port}/attention?attn_tab=Head&model_text={args.model}")
                pages.append(pg)
            for pg in pages:
                pg.wait_for_selector("text=Probabilities", timeout=180_000)
            rss0 = rss_mib(server.pid)
            t0 = time.time()
            from xviz.app.attention.text import DEFAULT_A

            default = own_tokens(tok, DEFAULT_A)
            previous: dict[int, list[str]] = {i: default for i in range(len(pages))}
            while done < args.runs:
                # type into every session first, so the server works on them concurrently, then check each
                texts = [f"Session {WORDS[i]} run {done + i} says hello." for i in range(len(pages))]
                for pg, text in zip(pages, texts):
                    box = pg.get_by_role("textbox", name="Text", exact=True)
                    box.fill(text)
                    box.press("Control+Enter")
                for i, pg in enumerate(pages):
                    try:
                        own = own_tokens(tok, texts[i])
                        ticks = wait_for_ticks(pg, own)
                        # a token this session never typed = cross-talk (the second heatmap may still show this
                        # session's previous text for a moment while it re-renders)
                        foreign = set(ticks) - set(own) - set(previous[i])
                        previous[i] = own
                        if foreign:
                            crosstalk += 1
                            print(f"cross-talk in session {i}: foreign tokens {sorted(foreign)[:8]}")
                        if pg.locator('[data-testid="stException"]').count():
                            errors += 1
                    except Exception as err:  # noqa: BLE001 - counted and reported
                        errors += 1
                        print("error:", type(err).__name__, str(err)[:200])
                done += len(pages)
                print(f"{done} runs, {time.time() - t0:.0f} s, server RSS {rss_mib(server.pid):.0f} MiB", flush=True)
            rss1 = rss_mib(server.pid)
            browser.close()
    finally:
        server.terminate()
    print(
        f"\nmodel={args.model} sessions={args.sessions} runs={done} errors={errors} crosstalk={crosstalk} "
        f"RSS before={rss0:.0f} MiB after={rss1:.0f} MiB (Δ {rss1 - rss0:+.0f} MiB) time={time.time() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
