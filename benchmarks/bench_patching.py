"""Activation patching of the IOI pair on SmolLM2-135M: the whole head grid (30 layers × 9 heads, z) and the
residual-stream grid (30 layers × 14 positions), batched vs the cell-by-cell baseline, measured in the same run.

    python benchmarks/bench_patching.py [--threads 1] [--device cpu] [--sites z resid_pre] [--tl]

Columns: seconds for xviz's batched sweep (rows grown layer by layer: a row patched at layer l joins the batch at
that layer's resid_pre, so layers before it run once for all rows; positions before the first differing token are
not run, patching them is a no-op), the same batch with every row from layer 0 and every cell run, and one
forward per cell (TransformerLens's loop, done with xviz edits); the largest difference between them; --tl adds
TransformerLens's own `get_act_patch_*` on the same ids (a test-only dependency).
"""

from __future__ import annotations

import argparse
import time

import torch

import xviz
from xviz.analysis import patching
from xviz.analysis.circuit_inputs import prompt_pairs
from xviz.analysis.lm_heads import IOI_PROMPT

CORRUPT = "When Mary and John went to the store, Mary gave a drink to"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def tl_sweep(folder: str, pairs, site: str) -> tuple[torch.Tensor, float]:
    from transformer_lens import patching as tlp
    from transformer_lens.model_bridge import TransformerBridge

    tl = TransformerBridge.boot_transformers(folder, device="cpu")
    fn = {"z": tlp.get_act_patch_attn_head_out_all_pos, "resid_pre": tlp.get_act_patch_resid_pre}[site]
    a, b = pairs.answer, pairs.wrong

    def metric(logits):
        return (logits[:, -1, a] - logits[:, -1, b]).mean()

    _, cache = tl.run_with_cache(pairs.clean)
    return timed(lambda: fn(tl, pairs.corrupt, cache, metric).detach())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sites", nargs="+", default=["z", "resid_pre"])
    ap.add_argument("--tl", action="store_true", help="also time TransformerLens's own sweep")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = xviz.load_model("smollm2-135m", device=args.device)
    pairs = prompt_pairs(model, IOI_PROMPT, CORRUPT, " Mary", " John")
    patching.sweep(model, pairs, "z", batch_rows=4)  # warm-up
    print(
        f"SmolLM2-135M, IOI pair ({pairs.num_tokens} tokens), device={args.device}, threads={torch.get_num_threads()}"
    )
    head = (
        f"{'site':>9} {'cells':>5} | {'batched':>8} {'flat batch':>10} {'cell by cell':>12} | {'speed-up':>8} | max |Δ|"
    )
    print(head + (f" | {'TL':>7} {'max |Δ TL|':>10}" if args.tl else ""))
    for site in args.sites:
        grown, t_grown = timed(lambda: patching.sweep(model, pairs, site))
        flat, t_flat = timed(lambda: patching.sweep(model, pairs, site, share_prefix=False, skip_prefix=False))
        slow, t_slow = timed(lambda: patching.sweep_cell_by_cell(model, pairs, site))
        diff = max(float((grown.values - slow.values).abs().max()), float((flat.values - slow.values).abs().max()))
        line = (
            f"{site:>9} {grown.values[0].numel():>5} | {t_grown:>7.1f}s {t_flat:>9.1f}s {t_slow:>11.1f}s | "
            f"{t_slow / t_grown:>7.1f}x | {diff:.1e}"
        )
        if args.tl:
            from xviz.pretrained.fetch import fetch_smollm2

            ref, t_tl = tl_sweep(str(fetch_smollm2()), pairs, site)
            line += f" | {t_tl:>6.1f}s {float((grown.mean - ref).abs().max()):>10.1e}"
        print(line)


if __name__ == "__main__":
    main()
