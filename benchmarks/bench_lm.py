"""SmolLM2-135M through xviz's Hugging Face adapter vs plain transformers on the same weights, in one run.

    python benchmarks/bench_lm.py [--device cuda] [--repeats 7] [--threads 1] [--tokens 128 512]

Columns (median ms, interleaved runs): HF with its default attention (sdpa), HF eager with
output_attentions=True, the adapter idle (nothing recorded: fused path), the adapter recording q, k, v, scores,
probs and z of all 30 layers (float32, and float16 storage). Ratios: idle / HF sdpa (target ≤ 1.02) and
recording / HF eager + attentions (target ≤ 1.10). MiB is what the recording keeps.
"""

from __future__ import annotations

import argparse

import torch
from _timing import bench  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import xviz
from xviz.pretrained.fetch import fetch_smollm2

ATTN = "blocks.*.attn.hook_*"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    ap.add_argument(
        "--reuse-memory",
        action="store_true",
        help="xviz.device.reuse_freed_memory() first (what the app does): freed pages are reused",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.reuse_memory:
        from xviz.device import reuse_freed_memory

        print("glibc keeps freed memory for reuse:", reuse_freed_memory())
    device = torch.device(args.device)
    from transformers import LlamaForCausalLM

    folder = str(fetch_smollm2())
    sdpa = LlamaForCausalLM.from_pretrained(folder, attn_implementation="sdpa").to(device).eval()
    eager = LlamaForCausalLM.from_pretrained(folder, attn_implementation="eager").to(device).eval()
    xm = xviz.load_model("smollm2-135m", device=device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print(
        f"{'tokens':>6} | {'HF sdpa':>8} {'HF eager+attn':>13} | {'idle':>8} {'rec f32':>8} {'rec f16':>8} | "
        f"{'idle/sdpa':>9} {'rec/eager+attn':>14} {'f16/eager+attn':>14} {'rec MiB':>8}"
    )
    for n in args.tokens:
        ids = torch.randint(100, 49000, (1, n), device=device, generator=None)
        mib = {}

        def rec(dtype=None):
            with xviz.record(xm, names=ATTN, dtype=dtype) as r:
                xm(input_ids=ids)
            mib[dtype] = r.nbytes() / 2**20

        with torch.no_grad():  # float16 storage in a pass of its own: its 630 MB conversion churns memory
            t = bench(
                {
                    "sdpa": lambda: sdpa(input_ids=ids),
                    "eager": lambda: eager(input_ids=ids, output_attentions=True),
                    "idle": lambda: xm(input_ids=ids),
                    "rec": rec,
                },
                args.repeats,
                device,
            )
            t16 = bench(
                {"eager": lambda: eager(input_ids=ids, output_attentions=True), "rec16": lambda: rec(torch.float16)},
                args.repeats,
                device,
            )
            t["rec16"], t["eager16"] = t16["rec16"], t16["eager"]
        print(
            f"{n:>6} | {t['sdpa']:>8.1f} {t['eager']:>13.1f} | {t['idle']:>8.1f} {t['rec']:>8.1f} "
            f"{t['rec16']:>8.1f} | {t['idle'] / t['sdpa']:>9.3f} {t['rec'] / t['eager']:>14.3f} "
            f"{t['rec16'] / t['eager16']:>14.3f} {mib[None]:>8.0f}"
        )


if __name__ == "__main__":
    main()
