"""dinov2-s14 (xviz ViT) at 224 and 518 px: forward with no recorder vs recording, against transformers'
Dinov2Model (eager) on the same converted weights, measured in one run (interleaved, medians).

    python benchmarks/bench_vit.py [--device cuda] [--repeats 10] [--threads 1]

Columns: HF eager, HF eager with output_attentions=True (baseline), xviz idle (no recorder: fused SDPA),
xviz "page" recording (attention probabilities + residual stream, what the Attention page keeps), xviz full
recording (every hook point: q, k, v, scores, probs, z, residuals, norms, MLP hidden), and the recordings' size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import bench  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

import xviz  # noqa: E402
from xviz.analysis.image_run import IMAGE_HOOKS  # noqa: E402
from xviz.pretrained.dinov2_onnx import onnx_path, onnx_to_hf_state_dict  # noqa: E402


def hf_dinov2(device: torch.device):
    """transformers' Dinov2Model on the same converted weights (written as an HF folder, loaded the HF way)."""
    import tempfile

    from safetensors.torch import save_file
    from transformers import Dinov2Config, Dinov2Model

    sd, eps = onnx_to_hf_state_dict(onnx_path())
    with tempfile.TemporaryDirectory() as d:
        Dinov2Config(
            hidden_size=384,
            num_hidden_layers=12,
            num_attention_heads=6,
            mlp_ratio=4,
            image_size=518,
            patch_size=14,
            layer_norm_eps=eps,
        ).save_pretrained(d)
        save_file({k: v.contiguous() for k, v in sd.items()}, f"{d}/model.safetensors")
        model = Dinov2Model.from_pretrained(d, attn_implementation="eager")
    return model.to(device).eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    hf = hf_dinov2(device)
    xm = xviz.load_model("dinov2-s14", device=device)
    from xviz.samples import load_sample

    img = load_sample("chelsea")
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device={name} torch={torch.__version__}  (median ms of {args.repeats}; ratios vs HF eager + attentions)")
    print(
        f"| {'px':>4} | {'tokens':>6} | {'HF eager':>8} | {'HF +attn':>8} | {'xviz idle':>9} | {'xviz page':>9} | "
        f"{'xviz full':>9} | {'idle/HF+a':>9} | {'page/HF+a':>9} | {'full/HF+a':>9} | {'full/idle':>9} | "
        f"{'page MiB':>8} | {'full MiB':>8} |"
    )
    print("|" + "|".join("-" * (w + 2) for w in (4, 6, 8, 8, 9, 9, 9, 9, 9, 9, 9, 8, 8)) + "|")
    for size in (224, 518):
        x = xm.prepare(img, size=size, mode="crop")["pixel_values"].to(device)
        mib = {}

        def rec(tag, names):
            def fn():
                with xviz.record(xm, names=names) as r:
                    xm(pixel_values=x)
                mib[tag] = r.nbytes() / 2**20

            return fn

        with torch.no_grad():
            t = bench(
                {
                    "hf": lambda: hf(pixel_values=x),
                    "hf_attn": lambda: hf(pixel_values=x, output_attentions=True),
                    "idle": lambda: xm(pixel_values=x),
                    "page": rec("page", IMAGE_HOOKS),
                    "full": rec("full", None),
                },
                args.repeats,
                device,
            )
            err = (hf(pixel_values=x).last_hidden_state - xm(pixel_values=x).last_hidden_state).abs().max().item()
        n = x.shape[-1] // 14 * x.shape[-2] // 14 + 1
        b = t["hf_attn"]
        print(
            f"| {size:>4} | {n:>6} | {t['hf']:>8.1f} | {b:>8.1f} | {t['idle']:>9.1f} | {t['page']:>9.1f} | "
            f"{t['full']:>9.1f} | {t['idle'] / b:>9.2f} | {t['page'] / b:>9.2f} | {t['full'] / b:>9.2f} | "
            f"{t['full'] / t['idle']:>9.2f} | {mib['page']:>8.0f} | {mib['full']:>8.0f} |  max|HF−xviz| {err:.1e}"
        )


if __name__ == "__main__":
    main()
