"""Train `copy-plain` or `copy-pointer` (xviz/models/attn_rnn.py) on the copy task (xviz/data/copy_task.py), on a
CPU, with the same budget for both: same steps, batch, learning rate, seeds and data.

plain: cross-entropy over the output vocabulary; a rare word's target is <unk> (the only thing it can write).
pointer: negative log-likelihood of the final distribution P(w) = p_gen·P_vocab(w) + (1 − p_gen)·Σ_{i: w_i = w} a_i
(See et al. 2017 eq. 9–10), the rare word's target being its extended id (its place among the source's words).
Writes the weights (config, metrics and command in the metadata), a CSV curve and a PNG beside them.

    python scripts/train_copy.py --variant pointer
    python scripts/train_copy.py --variant plain
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attn_rnn_training import ROOT, command, eval_steps, save_png, train  # noqa: E402

from xviz.analysis.copy_guided import unk_match  # noqa: E402
from xviz.data import copy_task as C  # noqa: E402
from xviz.models.attn_rnn import AttnRNNSeq2Seq, config_for, save_attn_rnn_file  # noqa: E402
from xviz.models.attn_rnn_decode import predict  # noqa: E402

SPLITS = ("held_out", "never_seen")


def measure(model, n: int) -> dict[str, float]:
    """Exact match on both test splits (seed 1234), and the plain model's best possible score (<unk> for rare)."""
    out = {}
    for split in SPLITS:
        exs = C.test_set(split, n)
        preds = predict(model, [e.source for e in exs])
        out[f"exact_{split}"] = sum(p == e.target for p, e in zip(preds, exs)) / n
        out[f"unk_{split}"] = sum(unk_match(p, e.target, C.OUTPUT_VOCAB) for p, e in zip(preds, exs)) / n
    return out


def loss_fn(model, rng: random.Random, batch_size: int):
    def step(_: int) -> dict[str, torch.Tensor]:
        exs = [C.sample(rng, "train") for _ in range(batch_size)]
        b = model.encode_batch([C.source_words(e.source) for e in exs], [e.target.split() for e in exs])
        out = model(b["src_ids"], b["src_mask"], b["tgt_ids"], b["src_ext"], b["n_ext"])
        if model.cfg.pointer:  # −log P(w*) of the mix (See eq. 10)
            logp = out.final.clamp_min(1e-12).log()  # (B, Nt, V + X)
            return {"nll": F.nll_loss(logp.flatten(0, 1), b["tgt_out"].flatten(), ignore_index=-100)}
        return {"nll": F.cross_entropy(out.logits.flatten(0, 1), b["tgt_out"].flatten(), ignore_index=-100)}

    return step


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=("plain", "pointer"), required=True)
    ap.add_argument("--out", type=Path, default=None, help="default: xviz/weights/copy_<variant>.safetensors")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-n", type=int, default=1000, help="examples per test split in the final numbers")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # the initial weights only; data come from their own random.Random
    model = AttnRNNSeq2Seq(config_for("copy", pointer=a.variant == "pointer"))
    out = a.out or ROOT / f"xviz/weights/copy_{a.variant}.safetensors"
    csv_path = out.with_suffix(".csv")
    print(f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f} k params", flush=True)
    last = train(
        model,
        loss_fn(model, random.Random(a.seed + 1), a.batch),
        lambda step: measure(model, 200),
        csv_path,
        a.steps,
        a.lr,
        a.warmup,
        eval_steps(a.steps, a.eval_every),
    )
    metrics = {**measure(model.eval(), a.eval_n), "n": a.eval_n, "train_seconds": last["train_seconds"]}
    print(json.dumps(metrics), flush=True)
    meta = {
        "command": command("train_copy.py", argv),
        "metrics": json.dumps(metrics),
        "steps": str(a.steps),
        "seed": str(a.seed),
        "test_sets": "copy_task.test_set(split, n, seed=1234) for split in ('held_out', 'never_seen')",
    }
    save_attn_rnn_file(model, out, meta)
    from xviz.plots.copy_guided import copy_curve_figure

    save_png(
        functools.partial(copy_curve_figure, title=f"copy-{a.variant} training"), csv_path, out.with_suffix(".png")
    )


if __name__ == "__main__":
    main()
