"""Train `monotonic-plain`, `monotonic-guided` or `monotonic-location` (xviz/models/attn_rnn.py) on spelling numbers
out ("305" → "three zero five", xviz/data/monotonic_task.py), on a CPU, with the same budget for all three: same
steps, batch, learning rate, seed and data (numbers of 1–8 digits; every batch holds one length).

plain: cross-entropy only, content-based additive attention (Bahdanau et al. 2015).
guided: the same model + λ·L_att, L_att = mean(A ⊙ W), W_nt = 1 − exp(−(n/N − t/T)² / (2g²)) (Tachibana et al.
2017 §4.1; analysis/copy_guided.py).
location: cross-entropy only; the attention also reads the previous step's attention convolved over the source
positions (Chorowski et al. 2015 eq. 8–9).

At every evaluation the CSV gets the diagonality and alignment accuracy of teacher-forced attention on 100 held-out
numbers, and greedy exact match on held-out numbers (1–8 digits) and on 10-digit numbers (longer than any trained).
At a few checkpoints the attention maps of the probe numbers (monotonic_task.PROBES) are kept; they ship beside the
weights (`<name>_maps.safetensors`). Final numbers (metadata): exact match on 1000 held-out numbers and on 200
numbers of each of 10, 12 and 16 digits, diagonality and alignment accuracy on the held-out and 12-digit numbers.

    python scripts/train_monotonic.py --variant plain
    python scripts/train_monotonic.py --variant guided
    python scripts/train_monotonic.py --variant location
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
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attn_rnn_training import ROOT, command, eval_steps, save_png, train  # noqa: E402

from xviz.analysis.copy_guided import alignment_accuracy, diagonality, guided_loss  # noqa: E402
from xviz.data import monotonic_task as M  # noqa: E402
from xviz.models.attn_rnn import AttnRNNSeq2Seq, config_for, save_attn_rnn_file  # noqa: E402
from xviz.models.attn_rnn_decode import exact_match  # noqa: E402

MAP_STEPS = (25, 50, 100, 200, 400, 800)  # + the last step: checkpoints whose probe attention maps are kept


@torch.no_grad()
def teacher_forced_attention(model, examples) -> list[torch.Tensor]:
    """Each example's cross-attention (T, N) with the true target fed in (T includes the <eos> step)."""
    b = model.encode_batch([list(e.source) for e in examples], [list(e.target) for e in examples])
    attn = model(b["src_ids"], b["src_mask"], b["tgt_ids"]).attention  # (B, Nt, Ns)
    return [attn[i, : len(e.target) + 1, : len(e.source)] for i, e in enumerate(examples)]


def alignment_numbers(model, examples) -> dict[str, float]:
    maps = teacher_forced_attention(model, examples)
    n = len(examples)
    return {
        "diagonality": sum(diagonality(a) for a in maps) / n,
        "align_acc": sum(alignment_accuracy(a, e.alignment()) for a, e in zip(maps, examples)) / n,
    }


def loss_fn(model, rng: random.Random, batch_size: int, guided: float, g: float, steps: int, decay: bool):
    def step(i: int) -> dict[str, torch.Tensor]:
        n_digits = rng.randint(1, M.MAX_TRAIN_DIGITS)  # one length per batch: no padding, fewer decoder steps
        exs = [M.sample(rng, "train", n_digits, n_digits) for _ in range(batch_size)]
        b = model.encode_batch([list(e.source) for e in exs], [list(e.target) for e in exs])
        out = model(b["src_ids"], b["src_mask"], b["tgt_ids"])
        parts = {"ce": F.cross_entropy(out.logits.flatten(0, 1), b["tgt_out"].flatten(), ignore_index=-100)}
        if guided > 0:
            src_len, tgt_len = b["src_mask"].sum(1), (b["tgt_out"] != -100).sum(1)
            weight = guided * (1 - (i - 1) / steps) if decay else guided  # linear decay to 0: see --guided-decay
            parts["guided"] = weight * guided_loss(out.attention, src_len, tgt_len, g)
        return parts

    return step


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=("plain", "guided", "location"), required=True)
    ap.add_argument("--out", type=Path, default=None, help="default: xviz/weights/monotonic_<variant>.safetensors")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--guided-weight", type=float, default=1.0, help="λ of the guided-attention loss")
    ap.add_argument(
        "--guided-decay",
        choices=("linear", "none"),
        default="none",
        help="none: a constant λ, as in the paper; linear: λ falls linearly to 0 over the run (the prior n/N = t/T "
        "forms the alignment early, then leaves the cross-entropy to sharpen the staircase of variable word lengths)",
    )
    ap.add_argument("--g", type=float, default=0.2, help="width of the guided-attention prior (Tachibana: 0.2)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-n", type=int, default=1000, help="held-out numbers in the final exact match")
    return ap.parse_args(argv)


def final_metrics(model, n: int) -> dict:
    long = {str(k): exact_match(model, M.long_set(k, 200)) for k in M.LONG_LENGTHS}
    held = M.test_set(n)
    return {
        "exact_held_out": exact_match(model, held),
        "exact_long": long,
        "held_out": alignment_numbers(model, held[:200]),
        "long_12": alignment_numbers(model, M.long_set(12, 200)),
        "n": n,
    }


def save_maps(path: Path, maps: dict[int, list[torch.Tensor]]) -> None:
    """Probe attention maps per checkpoint: tensor "maps" (K, P, Tmax, Nmax) float16, zero-padded; "steps" (K,)."""
    steps = sorted(maps)
    T = max(a.shape[0] for m in maps.values() for a in m)
    N = max(a.shape[1] for m in maps.values() for a in m)
    out = torch.zeros(len(steps), len(M.PROBES), T, N)
    for k, s in enumerate(steps):
        for p, a in enumerate(maps[s]):
            out[k, p, : a.shape[0], : a.shape[1]] = a
    save_file({"maps": out.half(), "steps": torch.tensor(steps)}, str(path), metadata={"probes": json.dumps(M.PROBES)})


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # the initial weights only; data come from their own random.Random
    model = AttnRNNSeq2Seq(config_for("monotonic", location=a.variant == "location"))
    out = a.out or ROOT / f"xviz/weights/monotonic_{a.variant}.safetensors"
    guided = a.guided_weight if a.variant == "guided" else 0.0
    probes = [M.Example(p, M.spell(p)) for p in M.PROBES]
    diag_set, maps = M.test_set(100, seed=7), {}

    def evaluate(step: int) -> dict[str, float]:
        if step in MAP_STEPS or step == a.steps:
            maps[step] = teacher_forced_attention(model, probes)
        return {
            **alignment_numbers(model, diag_set),
            "exact_held_out": exact_match(model, M.test_set(200, seed=7)),
            "exact_long_10": exact_match(model, M.long_set(10, 100, seed=7)),
        }

    print(f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f} k params", flush=True)
    csv_path = out.with_suffix(".csv")
    last = train(
        model,
        loss_fn(model, random.Random(a.seed + 1), a.batch, guided, a.g, a.steps, a.guided_decay == "linear"),
        evaluate,
        csv_path,
        a.steps,
        a.lr,
        a.warmup,
        eval_steps(a.steps, a.eval_every) | {s for s in MAP_STEPS if s < a.steps},
    )
    metrics = {**final_metrics(model.eval(), a.eval_n), "train_seconds": last["train_seconds"]}
    print(json.dumps(metrics), flush=True)
    meta = {
        "command": command("train_monotonic.py", argv),
        "metrics": json.dumps(metrics),
        "steps": str(a.steps),
        "seed": str(a.seed),
        "guided_weight": str(guided),
        "guided_decay": a.guided_decay,
        "g": str(a.g),
        "test_sets": "monotonic_task.test_set(n) (held out, 1-8 digits), long_set(k, 200) for k in (10, 12, 16)",
    }
    save_attn_rnn_file(model, out, meta)
    save_maps(out.with_name(out.stem + "_maps.safetensors"), maps)
    from xviz.plots.copy_guided import monotonic_curve_figure

    save_png(
        functools.partial(monotonic_curve_figure, title=f"monotonic-{a.variant} training"),
        csv_path,
        out.with_suffix(".png"),
    )


if __name__ == "__main__":
    main()
