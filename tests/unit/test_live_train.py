"""Live training: the task's data, the warm-up schedule, loss going down, determinism, and run isolation."""

from dataclasses import replace

import pytest
import torch

from xviz.train.live import SEP, TrainConfig, lr_at, make_batch, train_compare, train_steps

FAST = TrainConfig(num_layers=2, hidden_size=32, mlp_hidden=64, batch=16, length=4, num_symbols=8, steps=8, lr=3e-3)


def test_reverse_and_copy_batches():
    for task in ("reverse", "copy"):
        cfg = replace(FAST, task=task, length=5)
        inputs, targets = make_batch(cfg, torch.Generator().manual_seed(0))
        assert inputs.shape == targets.shape == (16, 10)
        x = inputs[:, :5]
        assert (inputs[:, 5] == SEP).all() and x.min() >= 1 and x.max() <= 8
        expect = x.flip(1) if task == "reverse" else x
        assert torch.equal(targets[:, 5:], expect)  # SEP, y₁…y₄ predict y₁…y₅
        assert (targets[:, :5] == -100).all()  # the random half is not scored
        assert torch.equal(inputs[:, 6:], expect[:, :-1])  # teacher forcing: y shifted by one


def test_warmup_schedule():
    assert [lr_at(t, 1.0, 4) for t in (1, 2, 4, 5, 100)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert lr_at(1, 3e-3, 0) == 3e-3


@pytest.mark.parametrize("pos", ["pre", "post"])
def test_short_run_lowers_the_loss(pos):
    cfg = replace(FAST, norm_position=pos, hidden_size=64, mlp_hidden=128, length=6, steps=40, warmup=5)
    logs = list(train_steps(cfg))
    assert [s.step for s in logs] == list(range(1, 41))
    first = sum(s.loss for s in logs[:3]) / 3
    last = sum(s.loss for s in logs[-5:]) / 5
    assert first > 2.0 and last < first - 0.5, (first, last)
    assert logs[0].lr == pytest.approx(3e-3 / 5) and logs[-1].lr == 3e-3
    assert all(len(s.grad_norms) == 2 and all(g > 0 for g in s.grad_norms) for s in logs)


def test_deterministic_and_no_global_rng():
    rng = torch.get_rng_state()
    a = [(s.loss, s.grad_norms) for s in train_steps(FAST)]
    b = [(s.loss, s.grad_norms) for s in train_steps(FAST)]
    assert a == b
    assert torch.equal(rng, torch.get_rng_state())
    c = [(s.loss, s.grad_norms) for s in train_steps(replace(FAST, seed=1))]
    assert c != a


def test_interleaved_runs_do_not_disturb_each_other():
    """Two sessions' runs stepping alternately give exactly what each gives alone."""
    cfg_a, cfg_b = FAST, replace(FAST, norm_position="pre", seed=5, lr=1e-3)
    alone = [[s.loss for s in train_steps(c)] for c in (cfg_a, cfg_b)]
    mixed = [[], []]
    for la, lb in zip(train_steps(cfg_a), train_steps(cfg_b)):
        mixed[0].append(la.loss)
        mixed[1].append(lb.loss)
    assert mixed == alone


def test_compare_runs_both_positions_in_lock_step():
    steps = list(train_compare(FAST, ("pre", "post")))
    assert len(steps) == FAST.steps and all(set(s) == {"pre", "post"} for s in steps)
    assert [s["post"].loss for s in steps] == [s.loss for s in train_steps(replace(FAST, norm_position="post"))]


def test_bad_config():
    with pytest.raises(ValueError, match="task"):
        next(train_steps(replace(FAST, task="sort")))
    with pytest.raises(ValueError, match="norm_position"):
        next(train_steps(replace(FAST, norm_position="sandwich")))
    with pytest.raises(ValueError):
        next(train_steps(replace(FAST, lr=0.0)))


@pytest.mark.gpu
def test_training_runs_on_cuda():
    cfg = replace(FAST, hidden_size=64, mlp_hidden=128, length=6, steps=40, warmup=5)
    cpu = [s.loss for s in train_steps(cfg)]
    gpu = [s.loss for s in train_steps(cfg, device="cuda")]
    assert gpu[0] == pytest.approx(cpu[0], rel=1e-3)  # same initial weights and batch on both devices
    assert sum(gpu[-5:]) / 5 < gpu[0] - 0.5
