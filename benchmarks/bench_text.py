"""xviz MiniLM vs transformers.BertModel (eager) on the same weights, measured in one run.

    python benchmarks/bench_text.py [--device cuda] [--repeats 15] [--threads 1]

Rows: 128 / 512 tokens × batch 1 / 8. Columns: median ms of HF eager, HF eager with output_attentions=True,
xviz with no recorder (idle) and xviz recording every hook; ratios against HF eager + attentions (the
issue's baseline). Runs are interleaved so machine noise hits all variants alike.
"""

from __future__ import annotations

import argparse

import torch
from _timing import bench  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import xviz
from xviz.pretrained.fetch import minilm_folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from transformers import BertModel

    hf = BertModel.from_pretrained(str(minilm_folder()), attn_implementation="eager").to(device).eval()
    xm = xviz.load_model("minilm-l6", device=device)
    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__}")
    print(
        f"{'tokens':>6} {'batch':>5} | {'HF eager':>9} {'HF +attn':>9} | {'xviz idle':>9} {'xviz rec':>9} | "
        f"{'idle/HF+attn':>12} {'rec/HF+attn':>11} {'rec MiB':>8}"
    )
    for n in (128, 512):
        for b in (1, 8):
            ids = torch.randint(1000, 29000, (b, n), device=device)
            mask = torch.ones_like(ids)
            mib = []

            def rec_all():
                with xviz.record(xm) as rec:
                    xm(input_ids=ids, attention_mask=mask)
                mib.append(rec.nbytes() / 2**20)

            with torch.no_grad():
                t = bench(
                    {
                        "hf": lambda: hf(input_ids=ids, attention_mask=mask),
                        "hf_attn": lambda: hf(input_ids=ids, attention_mask=mask, output_attentions=True),
                        "idle": lambda: xm(input_ids=ids, attention_mask=mask),
                        "rec": rec_all,
                    },
                    args.repeats,
                    device,
                )
            print(
                f"{n:>6} {b:>5} | {t['hf']:>9.1f} {t['hf_attn']:>9.1f} | {t['idle']:>9.1f} {t['rec']:>9.1f} | "
                f"{t['idle'] / t['hf_attn']:>12.2f} {t['rec'] / t['hf_attn']:>11.2f} {mib[-1]:>8.0f}"
            )


if __name__ == "__main__":
    main()
