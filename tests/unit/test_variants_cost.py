"""Measured kernels equal the dense-masked computation; cost formulas, error measures and the scaling run."""

import math

import pytest
import torch

import xviz.variants as V
from xviz.analysis.cost import attention_errors, cost_model, measure_scaling, rowwise_kl, topk_overlap
from xviz.analysis.variant_eval import evaluate, evaluate_all
from xviz.analysis.variant_inputs import synthetic_qkv, text_qkv
from xviz.errors import InputError
from xviz.kernels import (
    KERNELS,
    KernelParams,
    dense_masked,
    flex,
    linformer_linear,
    peak_memory,
    performer_linear,
    sliding_window_blockwise,
)
from xviz.layers import sparse_masks as sm
from xviz.variants.lowrank import projection_matrix, random_features


def qkv(b=1, h=3, n=50, d=16, seed=0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, h, n, d, generator=g).to(device=device, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("n,w", [(50, 8), (64, 16), (33, 3), (20, 64), (257, 32)])
@pytest.mark.parametrize("use_sdpa", [True, False])
def test_blockwise_window_equals_dense_masked(n, w, use_sdpa):
    q, k, v = qkv(n=n)
    ref = dense_masked(q, k, v, ~sm.sliding_window(n, w))
    torch.testing.assert_close(sliding_window_blockwise(q, k, v, w, use_sdpa=use_sdpa), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(V.masked(q, k, v, sm.sliding_window(n, w))[0], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(not flex.flex_importable(), reason="torch has no FlexAttention")
def test_flex_attention_equals_dense_masked_on_cpu_eager():
    """Eager (unfused) FlexAttention runs on the CPU: same block masks, same outputs as the dense path."""
    n = 200
    q, k, v = qkv(n=n, h=2)
    ref = dense_masked(q, k, v, ~sm.sliding_window(n, 24))
    got = flex.flex_masked(q, k, v, flex.sliding_window_block_mask(n, 24, "cpu"), compiled=False)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    bb = sm.bigbird(n, 16, 2, generator=torch.Generator().manual_seed(0))
    got_bb = flex.flex_masked(q, k, v, flex.pattern_block_mask(bb), compiled=False)
    torch.testing.assert_close(got_bb, dense_masked(q, k, v, ~bb), atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
def test_compiled_flex_and_blockwise_on_cuda_match_dense():
    n, w = 1024, 128
    q, k, v = qkv(n=n, h=4, d=64, device="cuda", dtype=torch.bfloat16)
    ref = dense_masked(q.float(), k.float(), v.float(), ~sm.sliding_window(n, w).cuda())
    for got in (
        flex.flex_masked(q, k, v, flex.sliding_window_block_mask(n, w, "cuda")),
        sliding_window_blockwise(q, k, v, w),
    ):
        torch.testing.assert_close(got.float(), ref, atol=2e-2, rtol=2e-2)


def test_linear_kernels_equal_the_visual_variants():
    q, k, v = qkv(n=40)
    om = random_features(32, 16, True, torch.Generator().manual_seed(0))
    torch.testing.assert_close(performer_linear(q, k, v, om), V.performer(q, k, v, omega=om)[0], atol=1e-5, rtol=1e-4)
    E, F = (projection_matrix(8, 40, "gaussian", torch.Generator().manual_seed(s)) for s in (1, 2))
    torch.testing.assert_close(linformer_linear(q, k, v, E, F), V.linformer(q, k, v, E=E, F=F)[0], atol=1e-5, rtol=1e-5)


def test_cpu_peak_memory_tracks_the_score_matrices():
    n = 1024
    q, k, v = qkv(h=2, n=n, d=32)
    forbidden = ~sm.sliding_window(n, 16)
    scores = 2 * n * n * 4  # one (B, H, N, N) float32 matrix
    peak = peak_memory(lambda: dense_masked(q, k, v, forbidden), "cpu", (q, k, v, forbidden))
    assert 2 * scores <= peak <= 2 * scores + 2 * q.numel() * 4  # scores + softmax (+ the output)
    peak_bw = peak_memory(lambda: sliding_window_blockwise(q, k, v, 16, use_sdpa=False), "cpu", (q, k, v))
    assert peak_bw < peak / 8  # strips of 3w/2 keys (and strided copies of K, V) instead of N²


def test_cost_formulas():
    p = V.VariantParams(features=32, proj_dim=16)
    full = cost_model("full", 100, 8, p)
    assert full.flops == 4 * 100 * 100 * 8 and full.memory == 100 * 100 and full.density == 1.0
    nnz = int(sm.sliding_window(100, 10).sum())
    win = cost_model("sliding_window", 100, 8, p, nnz=nnz)
    assert win.density == nnz / 1e4 and win.flops == 4 * nnz * 8
    assert cost_model("performer", 100, 8, p).memory == 2 * 100 * 32
    assert cost_model("linformer", 100, 8, p).flops == 8 * 100 * 16 * 8
    # Performer and Linformer scale linearly: doubling N doubles their cost, full quadruples
    for name in ("performer", "linformer"):
        assert cost_model(name, 2000, 8, p).flops == pytest.approx(2 * cost_model(name, 1000, 8, p).flops)
    assert cost_model("full", 2000, 8, p).flops == 4 * cost_model("full", 1000, 8, p).flops


def test_error_measures():
    q, k, v = (t[0, 0] for t in qkv(n=30))
    out, attn = V.full(q, k, v)
    e = attention_errors(out, attn, out, attn)
    assert e["relative_error"] == 0 and abs(e["kl"]) < 1e-9 and e["topk_overlap"] == 1
    # KL(sparse ‖ full) = −log of the mass full attention puts on the kept keys, row by row
    mask = sm.sliding_window(30, 6)
    _, sp = V.masked(q, k, v, mask)
    mass = (attn * mask).sum(-1)
    assert rowwise_kl(sp, attn) == pytest.approx(float(-mass.double().log().mean()), rel=1e-5)
    assert rowwise_kl(torch.randn(30, 30), attn) is None  # not distributions
    rev = attn.flip(-1)
    assert topk_overlap(rev, attn, k=30) == 1 and topk_overlap(attn, attn, k=1) == 1


def test_evaluate_on_a_real_head(minilm):
    head = text_qkv(minilm, "The cat sat on the mat because it was warm.", 1, 4)
    assert head.labels[0] == "[CLS]" and head.q.shape == (head.n, 32)
    results = evaluate_all(head.q, head.k, head.v, V.VariantParams(window=4))
    by = {r.name: r for r in results}
    assert set(by) == set(V.VARIANTS)
    assert by["full"].errors["relative_error"] == 0
    wide = evaluate("sliding_window", head.q, head.k, head.v, V.VariantParams(window=2 * head.n))
    assert wide.errors["relative_error"] < 1e-6 and wide.cost.density == 1.0
    assert 0 < by["sliding_window"].cost.density < 1
    with pytest.raises(InputError):
        text_qkv(minilm, "hello", 9, 0)


def test_synthetic_inputs_are_local_and_seeded():
    a, b = synthetic_qkv(256, seed=1), synthetic_qkv(256, seed=1)
    torch.testing.assert_close(a.q, b.q)
    _, attn = V.full(a.q, a.k, a.v)
    i = torch.arange(256)
    mean_dist = float((attn * (i[:, None] - i).abs()).sum(-1).mean())
    assert mean_dist < 40  # mostly local, like many real heads
    with pytest.raises(InputError):
        synthetic_qkv(1)


def test_measure_scaling_small_sizes_on_cpu():
    calls = []
    rows = measure_scaling(
        list(KERNELS),
        [64, 128],
        "cpu",
        heads=2,
        head_dim=16,
        params=KernelParams(window=16, features=16, proj_dim=16),
        repeats=1,
        progress=lambda f, m: calls.append(f),
    )
    assert calls[-1] == 1.0 and calls == sorted(calls)
    ok = {(r["kernel"], r["n"]): r for r in rows if r["status"] == "ok"}
    assert {r["status"] for r in rows if r["kernel"].startswith("flex")} == {"needs CUDA (compiled FlexAttention)"}
    for n in (64, 128):
        assert ok["dense_masked", n]["peak_mib"] * 2**20 >= 2 * 2 * n * n * 4  # two (H, N, N) float32 buffers
        assert all(ok[name, n]["ms"] > 0 for name in ("sdpa_full", "window_blockwise", "performer"))
    skipped = measure_scaling(["dense_masked"], [1 << 20], "cpu", heads=8)
    assert skipped[0]["status"].startswith("skipped: needs ~")
    assert math.isclose(calls[0], 0.0)
