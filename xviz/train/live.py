"""Live training of a small pre-LN or post-LN Transformer on a synthetic task, one step at a time.

Task: see n random symbols, a separator, then write them again (`copy`) or backwards (`reverse`); the loss is the
next-token cross-entropy on the written-again half only. Adam (β = 0.9, 0.98, as in Xiong et al. 2020) with a
linear learning-rate warm-up to `lr` over `warmup` steps, then constant. Xiong et al.: post-LN needs the warm-up,
pre-LN trains without it.

Every run builds and owns its model, optimiser and data generator (seeded `torch.Generator`s), so runs are
reproducible and one session's run never touches another's state. `train_steps` yields after every step, so a
page can draw progress and stop between steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from xviz.models.tiny_lm import LMConfig, TinyLM, build_lm, lm_loss

TASKS = ("reverse", "copy")
SEP = 0  # separator token; symbols are 1..num_symbols


@dataclass(frozen=True)
class TrainConfig:
    task: str = "reverse"
    norm_position: str = "post"
    num_layers: int = 6
    hidden_size: int = 64
    num_heads: int = 4
    mlp_hidden: int = 128
    length: int = 8  # symbols to copy / reverse
    num_symbols: int = 16  # distinct symbols (the model's vocab_size is one more: SEP)
    batch: int = 32
    steps: int = 200
    lr: float = 1e-3
    warmup: int = 0  # linear warm-up steps (0 = none)
    seed: int = 0


@dataclass(frozen=True)
class StepLog:
    step: int  # 1-based
    loss: float  # cross-entropy on the answer half
    accuracy: float  # fraction of answer tokens predicted exactly (greedy, teacher-forced)
    lr: float  # learning rate used for this step
    grad_norms: tuple[float, ...]  # per layer: ‖∂ℒ/∂θ_layer‖_F over all of the layer's parameters
    seconds: float  # wall time since the run started


def validate(cfg: TrainConfig) -> None:
    if cfg.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {cfg.task!r}")
    if cfg.norm_position not in ("pre", "post"):
        raise ValueError(f"norm_position must be 'pre' or 'post', got {cfg.norm_position!r}")
    if cfg.steps < 1 or cfg.num_layers < 1 or cfg.length < 1 or cfg.lr <= 0 or cfg.warmup < 0:
        raise ValueError(f"invalid training config: {cfg}")


def lr_at(step: int, lr: float, warmup: int) -> float:
    """Linear warm-up: lr·t/warmup for the t-th step (t = 1 … warmup), then lr."""
    return lr * min(1.0, step / warmup) if warmup > 0 else lr


def make_batch(cfg: TrainConfig, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (B, 2n): sequence x SEP y with y = x or reversed x; only y's tokens are scored."""
    n = cfg.length
    x = torch.randint(1, cfg.num_symbols + 1, (cfg.batch, n), generator=generator)  # (B, n)
    y = x.flip(1) if cfg.task == "reverse" else x
    seq = torch.cat([x, torch.full((cfg.batch, 1), SEP), y], dim=1)  # (B, 2n+1)
    targets = seq[:, 1:].clone()
    targets[:, :n] = -100  # x's next tokens are random and SEP's place is fixed: only y (after SEP) is scored
    return seq[:, :-1], targets


def build_model(cfg: TrainConfig, device: torch.device | str = "cpu") -> TinyLM:
    lm = LMConfig(
        vocab_size=cfg.num_symbols + 1,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        mlp_hidden=cfg.mlp_hidden,
        norm_position=cfg.norm_position,
    )
    return build_lm(lm, seed=cfg.seed, device=device)


def train_steps(cfg: TrainConfig, device: torch.device | str = "cpu") -> Iterator[StepLog]:
    """Train a fresh model for cfg.steps steps; yield a StepLog after each. Deterministic given cfg.seed."""
    validate(cfg)
    model = build_model(cfg, device)
    params = [list(b.parameters()) for b in model.blocks]
    all_params = list(model.parameters())
    opt = torch.optim.Adam(all_params, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9)
    gen = torch.Generator().manual_seed(cfg.seed + 7919)  # data stream, independent of the weights' stream
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        lr = lr_at(step, cfg.lr, cfg.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        inputs, targets = (t.to(device) for t in make_batch(cfg, gen))
        logits = model(inputs)  # (B, 2n, V)
        loss = lm_loss(logits, targets)
        grads = torch.autograd.grad(loss, all_params)
        for p, g in zip(all_params, grads):  # this run's own model and optimiser
            p.grad = g
        opt.step()
        yield StepLog(
            step,
            float(loss.detach()),
            _accuracy(logits, targets),
            lr,
            _layer_norms(params, all_params, grads),
            time.perf_counter() - start,
        )


def _accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    scored = targets != -100
    return float((logits.detach().argmax(-1) == targets)[scored].float().mean())


def _layer_norms(
    params: list[list[torch.Tensor]], all_params: list[torch.Tensor], grads: tuple[torch.Tensor, ...]
) -> tuple[float, ...]:
    by_id = {id(p): g for p, g in zip(all_params, grads)}
    norms = torch.stack([torch.sqrt(sum(by_id[id(p)].double().pow(2).sum() for p in ps)) for ps in params])
    return tuple(norms.cpu().tolist())


def train_compare(
    cfg: TrainConfig, positions: tuple[str, ...] = ("pre", "post"), device: torch.device | str = "cpu"
) -> Iterator[dict[str, StepLog]]:
    """Train one fresh model per norm position in lock-step (same seed, same batches); yield {position: log}."""
    runs = {p: train_steps(replace(cfg, norm_position=p), device) for p in positions}
    for logs in zip(*runs.values()):
        yield dict(zip(runs, logs))
