"""Per-layer gradient norms at initialisation for pre-LN vs post-LN stacks (Xiong et al., ICML 2020).

The paper's setting (§3, Fig. 3): L layers, Xavier init, an untied output head, a language-model loss; the
quantity is the expected gradient Frobenius norm E‖∂ℒ/∂W‖_F, estimated by averaging over seeds (each seed: a new
initialisation and a new random batch). Theorem 1: the last FFN layer's gradient is O(d·√(ln d)) for post-LN,
whatever the depth, and O(d·√(ln d / L)) for pre-LN, so post/pre grows like √L.

Random tokens are drawn with Zipf frequencies (p(k) ∝ 1/k^s, like words in text; s = 0 is uniform): with skewed
frequencies the output gradient has a component shared by all positions, as with real text, and post-LN's growth
with the layer index shows clearly; with uniform tokens it is nearly flat in small models.
Gradients come from torch.autograd.grad and the recorder's rec.backward; no parameter's .grad is ever written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xviz.hooks import record
from xviz.models.tiny_lm import LMConfig, TinyLM, build_lm, lm_loss

# Per-layer quantities: key -> label. LayerNorm keys are ‖∂ℒ/∂x‖_F of the activation at the LN's input/output.
METRICS = {
    "w1": "FFN W¹ (fc1.weight)",
    "w2": "FFN W² (fc2.weight)",
    "params": "all parameters of the layer",
    "norm1_in": "LN 1 input (activation)",
    "norm1_out": "LN 1 output (activation)",
    "norm2_in": "LN 2 input (activation)",
    "norm2_out": "LN 2 output (activation)",
}
_LN_HOOKS = "blocks.*.norm[12].hook_*"


@dataclass(frozen=True)
class GradNorms:
    """Per-layer gradient norms (mean and std over seeds) of one stack. `mean["w1"][i]` is layer i's."""

    norm_position: str
    num_layers: int
    mean: dict[str, list[float]]
    std: dict[str, list[float]]
    loss: float
    config: dict = field(default_factory=dict)

    def last(self, metric: str = "w1") -> float:
        return self.mean[metric][-1]

    def last_over_first(self, metric: str = "w1") -> float:
        return self.mean[metric][-1] / self.mean[metric][0]


def zipf_tokens(batch: int, seq_len: int, vocab_size: int, zipf: float, generator: torch.Generator) -> torch.Tensor:
    """(batch, seq_len) token ids with p(k) ∝ 1/(k+1)^zipf (zipf = 0: uniform), drawn on the CPU."""
    p = 1.0 / torch.arange(1, vocab_size + 1, dtype=torch.float64) ** zipf  # (V,)
    ids = torch.multinomial(p / p.sum(), batch * seq_len, replacement=True, generator=generator)
    return ids.view(batch, seq_len)  # (B, N)


def _param_grads(model: TinyLM, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-layer ‖∂ℒ/∂W¹‖_F, ‖∂ℒ/∂W²‖_F and ‖∂ℒ/∂θ_layer‖_F; the graph is kept for the recorder's pass."""
    params = [dict(b.named_parameters()) for b in model.blocks]
    grads = iter(torch.autograd.grad(loss, [p for ps in params for p in ps.values()], retain_graph=True))
    per_layer = [{name: next(grads) for name in ps} for ps in params]  # one {name: grad} per layer
    return {
        "w1": torch.stack([g["mlp.fc1.weight"].norm() for g in per_layer]),
        "w2": torch.stack([g["mlp.fc2.weight"].norm() for g in per_layer]),
        "params": torch.stack([torch.sqrt(sum(x.pow(2).sum() for x in g.values())) for g in per_layer]),
    }


def seed_grad_norms(model: TinyLM, ids: torch.Tensor) -> tuple[dict[str, torch.Tensor], float]:
    """One model, one batch: per-layer gradient norms (each (L,), CPU float64) and the loss.

    ids (B, N+1): inputs ids[:, :-1], next-token targets ids[:, 1:]. Uses torch.autograd.grad for the weights
    and xviz.record(grads=True) + rec.backward for the LayerNorm activations; no .grad is written.
    """
    with record(model, names=_LN_HOOKS, grads=True) as rec:
        loss = lm_loss(model(ids[:, :-1]), ids[:, 1:])
    out = _param_grads(model, loss)
    rec.backward(loss)
    L = len(model.blocks)
    for ln in ("norm1", "norm2"):
        for side in ("in", "out"):
            out[f"{ln}_{side}"] = torch.stack(
                [rec[f"blocks.{i}.{ln}.hook_{side}_grad"].double().norm() for i in range(L)]
            )
    return {k: v.detach().double().cpu() for k, v in out.items()}, float(loss.detach())


def layer_grad_norms(
    num_layers: int = 6,
    norm_position: str = "pre",
    *,
    hidden_size: int = 128,
    mlp_hidden: int = 256,
    num_heads: int = 4,
    vocab_size: int = 512,
    seq_len: int = 32,
    batch: int = 8,
    seeds: tuple[int, ...] = (0, 1, 2),
    zipf: float = 1.0,
    device: torch.device | str = "cpu",
) -> GradNorms:
    """Expected per-layer gradient norms at initialisation, averaged over `seeds` (new weights + batch each)."""
    if norm_position not in ("pre", "post"):
        raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
    if not seeds:
        raise ValueError("give at least one seed")
    cfg = LMConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        mlp_hidden=mlp_hidden,
        norm_position=norm_position,
    )
    runs, losses = [], []
    for seed in seeds:
        model = build_lm(cfg, seed=seed, device=device)
        gen = torch.Generator().manual_seed(1_000_003 + seed)  # the batch: its own stream, same for pre and post
        ids = zipf_tokens(batch, seq_len + 1, vocab_size, zipf, gen).to(device)  # (B, N+1)
        norms, loss = seed_grad_norms(model, ids)
        runs.append(norms)
        losses.append(loss)
    mean = {k: torch.stack([r[k] for r in runs]).mean(0).tolist() for k in METRICS}
    std = {k: torch.stack([r[k] for r in runs]).std(0, unbiased=False).tolist() for k in METRICS}
    config = dict(
        hidden_size=hidden_size,
        mlp_hidden=mlp_hidden,
        num_heads=num_heads,
        vocab_size=vocab_size,
        seq_len=seq_len,
        batch=batch,
        seeds=list(seeds),
        zipf=zipf,
        device=str(device),
    )
    return GradNorms(norm_position, num_layers, mean, std, sum(losses) / len(losses), config)


def ratio_vs_depth(results: dict[int, tuple[GradNorms, GradNorms]], metric: str = "w1") -> dict[str, list[float]]:
    """{L: (pre, post)} → depths, last-layer norms of pre and post, post/pre, and pre·√L (flat if pre ∝ 1/√L)."""
    depths = sorted(results)
    pre = [results[L][0].last(metric) for L in depths]
    post = [results[L][1].last(metric) for L in depths]
    return {
        "depth": [float(L) for L in depths],
        "pre": pre,
        "post": post,
        "ratio": [b / a for a, b in zip(pre, post)],
        "pre_sqrt_L": [a * L**0.5 for a, L in zip(pre, depths)],
    }
