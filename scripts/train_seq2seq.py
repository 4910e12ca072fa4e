"""Train xviz's tiny encoder–decoder (registry name `seq2seq-tiny`) on its three synthetic tasks, on a CPU.

Tasks and held-out split: xviz/models/seq2seq_tasks.py (reverse ≤ 24 lowercase letters; dates "3rd of March
2021" / "March 3, 2021", years 1900–2099 → "2021-03-03"; a name copied out of a template sentence). Every batch
holds the three tasks equally. Loss = cross-entropy of the autoregressive decoder under teacher forcing
(optionally scheduled sampling, Bengio et al. 2015, inverse-sigmoid decay) + cross-entropy of the NAT decoder at
the true length + cross-entropy of the length head. Writes the weights (config, accuracies and command in the
metadata), a CSV curve and a PNG curve beside them. Fixed seeds; one thread by default.

    python scripts/train_seq2seq.py --out xviz/weights/seq2seq_tiny.safetensors
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xviz.analysis.encdec import inverse_sigmoid, scheduled_mix  # noqa: E402
from xviz.data import seq2seq_tasks as tasks  # noqa: E402
from xviz.models.seq2seq import Seq2Seq, Seq2SeqConfig, load_seq2seq_file, save_seq2seq_file  # noqa: E402
from xviz.models.seq2seq_decode import batch_sources, exact_match  # noqa: E402

EVAL_N = 500  # held-out examples per task written into the metadata (seed 1234)


def make_batch(model, g: torch.Generator, size: int):
    """size examples (tasks in turn) → src (B, Ns), src_mask, tgt_in (B, Nt) = <bos>+y, tgt_out = y+<eos>, lengths."""
    exs = [tasks.sample(tasks.TASKS[i % len(tasks.TASKS)], g, "train") for i in range(size)]
    src, src_mask = batch_sources(model, exs)
    ys = [tasks.encode_chars(ex.target) for ex in exs]
    n = max(map(len, ys)) + 1
    tgt_in = torch.full((size, n), tasks.PAD, dtype=torch.long)
    tgt_out = torch.full((size, n), -100, dtype=torch.long)
    for i, y in enumerate(ys):
        tgt_in[i, : len(y) + 1] = torch.tensor([tasks.BOS] + y)
        tgt_out[i, : len(y) + 1] = torch.tensor(y + [tasks.EOS])
    return src, src_mask, tgt_in, tgt_out, torch.tensor([len(y) for y in ys])


def losses(model, batch, eps: float, g: torch.Generator) -> dict[str, torch.Tensor]:
    src, src_mask, tgt_in, tgt_out, lengths = batch
    memory = model.encode(src, src_mask)
    if eps < 1.0:  # scheduled sampling, the two-pass parallel form: predictions of a teacher-forced pass
        with torch.no_grad():
            pred = model.decode_at(tgt_in, memory, src_mask).argmax(-1)  # (B, Nt) token for position t+1
        tgt_in = scheduled_mix(tgt_in, pred, eps, g)
    logits = model.decode_at(tgt_in, memory, src_mask)  # (B, Nt, V)
    at = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=-100)
    nat_logits = model.decode_nat(lengths, memory, src_mask)  # (B, max T, V)
    nat_tgt = tgt_out[:, : nat_logits.shape[1]].clone()
    nat_tgt[nat_tgt == tasks.EOS] = -100  # NAT writes characters only
    nat = F.cross_entropy(nat_logits.flatten(0, 1), nat_tgt.flatten(), ignore_index=-100)
    length = F.cross_entropy(model.length_logits(memory, src_mask), lengths)
    return {"at": at, "nat": nat, "length": length}


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate(model, n: int) -> dict:
    model.eval()
    out = {"at": {}, "nat": {}, "n": n}
    for task in tasks.TASKS:
        exs = tasks.test_set(task, n)
        out["at"][task] = round(exact_match(model, exs), 4)
        out["nat"][task] = round(exact_match(model, exs, nat=True), 4)
    model.train()
    return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "xviz/weights/seq2seq_tiny.safetensors")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--mlp", type=int, default=256, help="MLP hidden width")
    ap.add_argument(
        "--ss-k",
        type=float,
        default=0.0,
        help="scheduled sampling: ε_i = k / (k + exp(i / k)) (0 = teacher forcing only)",
    )
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="continue from an xviz seq2seq file (its config wins over the size flags)",
    )
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--eval-n", type=int, default=EVAL_N)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)  # only the initial weights (nn defaults); data and mixing use their own generators
    if a.init is not None:
        model = load_seq2seq_file(a.init).train()
    else:
        model = Seq2Seq(
            Seq2SeqConfig(
                hidden_size=a.dim, num_heads=a.heads, num_layers=a.layers, decoder_layers=a.layers, mlp_hidden=a.mlp
            )
        ).train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=0.01)
    g_data, g_mix = torch.Generator().manual_seed(a.seed + 1), torch.Generator().manual_seed(a.seed + 2)
    csv_path = a.out.with_suffix(".csv")
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params", flush=True)
    t0, recent = time.time(), []
    with open(csv_path, "w", newline="") as fh:
        log = csv.writer(fh)
        log.writerow(
            ["step", "lr", "eps", "loss_at", "loss_nat", "loss_length"]
            + [f"{m}_{t}" for m in ("at", "nat") for t in tasks.TASKS]
            + ["seconds"]
        )
        for step in range(1, a.steps + 1):
            lr = lr_at(step - 1, a.steps, a.lr, a.warmup)
            for group in opt.param_groups:
                group["lr"] = lr
            eps = inverse_sigmoid(step, a.ss_k) if a.ss_k > 0 else 1.0
            parts = losses(model, make_batch(model, g_data, a.batch), eps, g_mix)
            opt.zero_grad(set_to_none=True)
            (parts["at"] + parts["nat"] + 0.1 * parts["length"]).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            recent.append([float(v.detach()) for v in parts.values()])
            if step % a.eval_every == 0 or step == a.steps:
                acc = evaluate(model, 100 if step < a.steps else a.eval_n)
                mean = torch.tensor(recent).mean(0).tolist()
                row = (
                    [step, f"{lr:.3g}", f"{eps:.3f}"]
                    + [f"{v:.4f}" for v in mean]
                    + [acc[m][t] for m in ("at", "nat") for t in tasks.TASKS]
                    + [f"{time.time() - t0:.0f}"]
                )
                log.writerow(row)
                fh.flush()
                print(" ".join(map(str, row)), flush=True)
                recent = []
    meta = {
        "command": "python scripts/train_seq2seq.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "accuracy": json.dumps(acc),
        "train_seconds": f"{time.time() - t0:.0f}",
        "steps": str(a.steps),
        "init": str(a.init or ""),
        "held_out": "seq2seq_tasks.test_set(task, n, seed=1234); crc32(key) % 10 == 0 never trained",
    }
    save_seq2seq_file(model.eval(), a.out, meta)
    try:
        from xviz.plots.encdec import training_curve_figure
        from xviz.plots.export import save_curve_png

        save_curve_png(training_curve_figure, csv_path, a.out.with_suffix(".png"))
    except Exception as err:  # the PNG is a bonus; the CSV has the numbers
        print(f"(no PNG curve: {err})")


if __name__ == "__main__":
    main()
