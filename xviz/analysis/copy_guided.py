"""The copy mechanism and guided attention (pure torch, no streamlit): the guided-attention weight matrix and loss
(Tachibana et al. 2017), a diagonality score, the alignment accuracy against a known alignment, and per-step
traces of a pointer-generator's output (See et al. 2017). Formulas: ../shared/REFERENCES.md "Encoder–decoders"."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import torch
from safetensors import safe_open

from xviz.errors import ModelLoadError
from xviz.pretrained.zoo import weights_file


# ---- guided attention (Tachibana et al. 2017, §4.1) -------------------------------------------------------------
def guided_weights(N: int, T: int, g: float = 0.2) -> torch.Tensor:
    """W[t, n] = 1 − exp(−(n/N − t/T)² / (2g²)) for target step t < T and source position n < N → (T, N).
    Zero on the diagonal n/N = t/T, near 1 far from it (the paper writes W_nt; rows here are target steps)."""
    n = torch.arange(N, dtype=torch.float32) / N  # (N,)
    t = torch.arange(T, dtype=torch.float32) / T  # (T,)
    return 1 - torch.exp(-((n[None, :] - t[:, None]) ** 2) / (2 * g * g))  # (T, N)


def guided_loss(attn: torch.Tensor, src_len: torch.Tensor, tgt_len: torch.Tensor, g: float = 0.2) -> torch.Tensor:
    """L_att = mean over the real (t, n) entries of A[t, n]·W[t, n], each example with its own N and T.
    attn (B, Nt, Ns); src_len, tgt_len (B,) the real lengths (the target's includes <eos>)."""
    B, Nt, Ns = attn.shape
    n = torch.arange(Ns, device=attn.device)[None, None, :] / src_len[:, None, None]  # (B, 1, Ns) n/N
    t = torch.arange(Nt, device=attn.device)[None, :, None] / tgt_len[:, None, None]  # (B, Nt, 1) t/T
    W = 1 - torch.exp(-((n - t) ** 2) / (2 * g * g))  # (B, Nt, Ns)
    valid = (torch.arange(Ns, device=attn.device)[None, None, :] < src_len[:, None, None]) & (
        torch.arange(Nt, device=attn.device)[None, :, None] < tgt_len[:, None, None]
    )  # (B, Nt, Ns)
    return (attn * W * valid).sum() / valid.sum()


# ---- how diagonal, how right ----------------------------------------------------------------------------------
def diagonality(attn: torch.Tensor, width: float = 1.0) -> float:
    """Mean over target steps t of the attention mass within `width` source positions of the uniform-speed
    diagonal n*(t) = (t + ½)·N/T − ½ (the position a constant-rate monotonic alignment reads at step t).
    attn (T, N), real rows and columns only. 1 for an identity alignment; ≈ 1/N·(2·width + 1) for uniform attention.
    For the spelled-out numbers the true staircase alignment scores ≥ 0.99 (variable word lengths stay within one
    digit of the diagonal)."""
    T, N = attn.shape
    t = torch.arange(T, dtype=torch.float32)
    centre = (t + 0.5) * N / T - 0.5  # (T,)
    band = (torch.arange(N, dtype=torch.float32)[None, :] - centre[:, None]).abs() <= width  # (T, N)
    return float((attn.float() * band).sum(-1).mean())


def alignment_accuracy(attn: torch.Tensor, alignment: list[int]) -> float:
    """Fraction of target steps whose most-attended source position is the one they should read. attn (T, N)."""
    T = min(attn.shape[0], len(alignment))
    hits = attn[:T].argmax(-1) == torch.tensor(alignment[:T])
    return float(hits.float().mean()) if T else 0.0


def batch_diagonality(attn: torch.Tensor, src_len, tgt_len, width: float = 1.0) -> float:
    """Mean diagonality over a padded batch: attn (B, Nt, Ns), real lengths (B,)."""
    scores = [diagonality(attn[b, : int(tgt_len[b]), : int(src_len[b])], width) for b in range(attn.shape[0])]
    return sum(scores) / max(1, len(scores))


# ---- the pointer, step by step (See et al. 2017) -----------------------------------------------------------------
@dataclass
class PointerStep:
    step: int
    token: str  # what was written
    p_gen: float | None  # probability of generating from the vocabulary (None: plain model)
    copy: list[float]  # (Ns,) attention = the copy distribution over the source tokens
    vocab_top: list[tuple[str, float]]  # P_vocab's top-k
    final_top: list[tuple[str, float]]  # the mixed distribution's top-k
    from_copy: float  # of the written token's final probability, the share that came from copying


def pointer_steps(gen, k: int = 5) -> list[PointerStep]:
    """Per output step of an attn_rnn_decode.Generation: p_gen, the copy distribution, top-k of P_vocab and of the
    final distribution, and how much of the chosen word's probability came from the copy term."""
    out = []
    V = gen.p_vocab.shape[1]
    words = gen.tokens + ["<eos>"] if gen.finished else gen.tokens
    for t, tok in enumerate(words):
        fin = gen.final[t]  # (V + X,)
        chosen = int(fin.argmax())
        p_gen = float(gen.p_gen[t]) if gen.p_gen is not None else 1.0
        gen_part = p_gen * float(gen.p_vocab[t, chosen]) if chosen < V else 0.0  # a word outside V: copied only
        share = 1 - gen_part / max(float(fin[chosen]), 1e-12) if gen.p_gen is not None else 0.0
        out.append(
            PointerStep(
                step=t + 1,
                token=tok,
                p_gen=float(gen.p_gen[t]) if gen.p_gen is not None else None,
                copy=gen.attention[t].tolist(),
                vocab_top=_top(gen.p_vocab[t], gen.ext_vocab, k),
                final_top=_top(fin, gen.ext_vocab, k),
                from_copy=min(1.0, max(0.0, share)),
            )
        )
    return out


def _top(p: torch.Tensor, names: list[str], k: int) -> list[tuple[str, float]]:
    vals, idx = p.topk(min(k, p.shape[0]))
    return [(names[int(i)], float(v)) for v, i in zip(vals, idx)]


def unk_match(prediction: str, target: str, vocab: list[str]) -> bool:
    """Exact match once every target word outside `vocab` counts as written when the prediction has <unk> there:
    the plain model's best possible answer (it cannot generate those words)."""
    want = [w if w in vocab else "<unk>" for w in target.split()]
    return prediction.split() == want


def unk_count(text: str) -> int:
    return text.split().count("<unk>")


# ---- what the training scripts shipped beside the weights -------------------------------------------------------
@dataclass
class CheckpointMaps:
    steps: list[int]  # training steps whose attention was kept
    probes: list[str]  # the probe sources
    maps: torch.Tensor  # (K, P, Tmax, Nmax) teacher-forced cross-attention, zero-padded

    def get(self, step: int, probe: str, target_len: int) -> torch.Tensor:
        """The (T, N) map of one probe at one checkpoint (T = target characters + <eos>)."""
        k, p = self.steps.index(step), self.probes.index(probe)
        return self.maps[k, p, : target_len + 1, : len(probe)].float()


def shipped_curve(name: str) -> dict[str, list[float]]:
    """The training CSV beside a zoo model's weights: {column: values}."""
    with open(weights_file(name).with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else [])}


def first_step_at(curve: dict[str, list[float]], key: str, level: float) -> int | None:
    """The first logged training step whose `key` reached `level` (None: never)."""
    return next((int(s) for s, v in zip(curve["step"], curve[key]) if v >= level), None)


def shipped_maps(name: str) -> CheckpointMaps:
    """The probe attention maps saved during training (`<name>_maps.safetensors` beside the weights)."""
    path = weights_file(name)
    path = path.with_name(path.stem + "_maps.safetensors")
    if not path.is_file():
        raise ModelLoadError(f"{path.name} is missing: the checkpoint attention maps were not installed with xviz.")
    with safe_open(str(path), "pt") as f:
        probes = json.loads((f.metadata() or {}).get("probes", "[]"))
        return CheckpointMaps(f.get_tensor("steps").tolist(), probes, f.get_tensor("maps"))
