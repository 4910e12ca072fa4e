"""Long inputs with attention on demand: what a recording costs and keeps, against plain transformers, in one run.

    python benchmarks/bench_long.py [--device cuda] [--repeats 3] [--threads 1] [--tokens 512 4096] [--skip-memory]

1. SmolLM2-135M at each length: HF's forward with its default attention (sdpa, no attentions), xviz recording the
   Attention page's hooks (q, k, v, z of all 30 layers; scores and probs on demand) — ratio recording / HF (target
   ≤ 1.05) —, what the recording keeps (MiB, and per token), and what the same recording would keep dense.
2. MiniLM at 512 tokens × 8 texts: HF BertModel eager with output_attentions vs xviz recording every attention hook
   (on demand past 256 MiB) — ratio (target ≤ 1.10).
3. Process memory growth (a fresh subprocess; peak RSS counted from after loading: VmHWM reset by clear_refs) of
   recording SmolLM2 at the longest length and drawing the Attention page's first view (layer × head overview from
   pooled maps, head 0's map pooled to 512 cells, the streamed statistics) — target ≤ 2 GB at 4,096 tokens.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from _timing import bench  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import xviz
from xviz.pretrained.fetch import fetch_smollm2, minilm_folder

ATTN = "blocks.*.attn.hook_*"
ROOT = Path(__file__).resolve().parent.parent

MEMORY = """
import json, sys, torch
import xviz
from xviz.analysis import attention_views

def kib(key):  # a line of /proc/self/status, in bytes
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(key))

def reset_peak():  # Linux: VmHWM (peak RSS) starts again from the current RSS, so loading's peak does not hide ours
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")

torch.set_num_threads(int(sys.argv[3]))
model = xviz.load_model("smollm2-135m", device=sys.argv[2])
n = int(sys.argv[1])
ids = torch.randint(100, 49000, (1, n), generator=torch.Generator().manual_seed(0)).to(sys.argv[2])
with torch.no_grad():
    model(input_ids=ids[:, :16])
reset_peak()
before = kib("VmRSS:")
if sys.argv[4] == "hf":  # the baseline: the same forward with nothing recorded
    with torch.no_grad():
        model.hf_model(input_ids=ids, logits_to_keep=1)
    print(json.dumps({"grow": kib("VmHWM:") - before}))
    sys.exit()
with torch.no_grad(), xviz.record(model, names="blocks.*.attn.hook_*", attention="lazy") as rec:
    model(input_ids=ids, logits_to_keep=1)  # as the Attention page runs it: no (N, V) logits
attention_views.overview_maps(rec)
attention_views.head_region(rec, 0, 0)
valid = torch.ones(n, dtype=torch.bool)
attention_views.head_statistics(rec, valid, torch.zeros(n, dtype=torch.bool), "")
grow = kib("VmHWM:") - before
print(json.dumps({"grow": grow, "kept": rec.nbytes(), "dense": rec.dense_nbytes()}))
"""


def smollm2(args, device) -> None:
    from transformers import LlamaForCausalLM  # noqa: PLC0415

    hf = LlamaForCausalLM.from_pretrained(str(fetch_smollm2()), attn_implementation="sdpa").to(device).eval()
    xm = xviz.load_model("smollm2-135m", device=device)
    print(
        f"\nSmolLM2-135M, {device}, {torch.get_num_threads()} thread(s); median ms of {args.repeats} interleaved runs"
    )
    head = f"{'HF sdpa':>9} {'xviz rec':>9} {'rec/HF':>6} | {'kept MiB':>8} {'KiB/token':>9} {'dense GiB':>9}"
    print(f"{'tokens':>6} | {head}")
    for n in args.tokens:
        ids = torch.randint(100, 49000, (1, n), generator=torch.Generator().manual_seed(0)).to(device)
        kept = {}

        def rec():
            with xviz.record(xm, names=ATTN) as r:
                xm(input_ids=ids, logits_to_keep=1)
            kept["r"] = r

        with torch.no_grad():
            t = bench({"hf": lambda: hf(input_ids=ids, logits_to_keep=1), "rec": rec}, args.repeats, device)
        r = kept.pop("r")
        print(
            f"{n:>6} | {t['hf']:>9.0f} {t['rec']:>9.0f} {t['rec'] / t['hf']:>6.3f} | {r.nbytes() / 2**20:>8.0f} "
            f"{r.nbytes() / n / 1024:>9.1f} {r.dense_nbytes() / 2**30:>9.2f}"
        )


def minilm(args, device) -> None:
    from transformers import BertModel  # noqa: PLC0415

    hf = BertModel.from_pretrained(str(minilm_folder()), attn_implementation="eager").to(device).eval()
    xm = xviz.load_model("minilm-l6", device=device)
    batch = xm.prepare([" ".join(["word"] * 600)] * 8, max_length=512)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    kept = {}

    def rec():
        with xviz.record(xm, names=ATTN) as r:
            xm(**inputs)
        kept["r"] = r

    with torch.no_grad():
        t = bench({"hf": lambda: hf(**inputs, output_attentions=True), "rec": rec}, args.repeats, device)
    r = kept.pop("r")
    print(f"\nMiniLM, 8 × 512 tokens: HF eager + attentions {t['hf']:.0f} ms, xviz recording {t['rec']:.0f} ms")
    print(
        f"ratio {t['rec'] / t['hf']:.3f}; kept {r.nbytes() / 2**20:.0f} MiB (dense: {r.dense_nbytes() / 2**20:.0f} MiB)"
    )


def memory(args) -> None:
    n = max(args.tokens)
    m, hf = ({} for _ in range(2))
    for what, out in (("xviz", m), ("hf", hf)):
        cmd = [sys.executable, "-c", MEMORY, str(n), args.device, str(args.threads), what]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        out.update(json.loads(run.stdout.strip().splitlines()[-1]))
    print(f"\nSmolLM2 at {n} tokens, recorded + the Attention page's first view, in a fresh process:")
    print(
        f"process memory growth {m['grow'] / 2**30:.2f} GiB (HF's forward alone: {hf['grow'] / 2**30:.2f} GiB); "
        f"the recording keeps {m['kept'] / 2**30:.2f} GiB (dense: {m['dense'] / 2**30:.1f} GiB)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, nargs="+", default=[512, 4096])
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    smollm2(args, device)
    minilm(args, device)
    if not args.skip_memory:
        memory(args)


if __name__ == "__main__":
    main()
