"""The variants against oracles: full attention (SDPA and the attention layer), their own definitions written as
loops, and the limits where an approximation must become exact."""

import math

import pytest
import torch
import torch.nn.functional as F

import xviz.variants as V
from xviz.layers import sparse_masks as sm
from xviz.layers.attention import explicit_attention
from xviz.variants.clustering import lsh_buckets
from xviz.variants.lowrank import random_features, softmax_kernel_estimate


def qkv(n=24, d=8, b=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*b, n, d, generator=g, dtype=torch.float64) for _ in range(3)]


def test_full_matches_sdpa_and_attention_layer():
    q, k, v = qkv(b=(2, 3))
    out, attn = V.full(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    z, probs, _ = explicit_attention(q, k, v)
    torch.testing.assert_close(attn, probs)
    out_c, _ = V.full(q, k, v, causal=True)
    torch.testing.assert_close(out_c, F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_masked_is_rowwise_softmax_over_allowed_keys():
    q, k, v = qkv(n=10)
    mask = sm.strided(10, 3) & ~torch.eye(10, dtype=torch.bool)
    mask[4] = False  # a query with no key at all → zeros
    out, attn = V.masked(q, k, v, mask)
    s = q @ k.T / math.sqrt(8)
    for i in range(10):
        keys = [j for j in range(10) if mask[i, j]]
        ref = torch.zeros(10, dtype=torch.float64)
        if keys:
            ref[keys] = s[i, keys].softmax(0)
        torch.testing.assert_close(attn[i], ref)
        torch.testing.assert_close(out[i], ref @ v)


def test_linformer_identity_projections_is_full_attention():
    q, k, v = qkv(b=(2, 2), n=16)
    eye = torch.eye(16, dtype=torch.float64)
    out, attn = V.linformer(q, k, v, proj_dim=16, E=eye, F=eye)
    ref_out, ref_attn = V.full(q, k, v)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(attn, ref_attn)


def test_linformer_effective_matrix_reproduces_output():
    q, k, v = qkv(n=20)
    for proj in ("gaussian", "pool"):
        out, attn = V.linformer(q, k, v, proj_dim=5, projection=proj, seed=1)
        torch.testing.assert_close(attn @ v, out)
    _, attn = V.linformer(q, k, v, proj_dim=5, projection="pool")
    assert (attn >= 0).all() and torch.allclose(attn.sum(-1), torch.ones(20, dtype=torch.float64))


@pytest.mark.parametrize("shared_qk", [False, True])
def test_lsh_one_bucket_is_full_attention(shared_qk):
    q, k, v = qkv(b=(1, 2), n=20)
    out, attn = V.lsh(q, k, v, n_buckets=1, n_hashes=3, shared_qk=shared_qk)
    if not shared_qk:
        ref_out, ref_attn = V.full(q, k, v)
    else:  # Reformer's shared-QK: keys are the normalised queries and a token never attends to itself
        kn = q / q.norm(dim=-1, keepdim=True)
        ref_out, ref_attn = V.masked(q, kn, v, ~torch.eye(20, dtype=torch.bool))
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(attn, ref_attn)


def test_lsh_pattern_matches_sort_and_chunk_definition():
    n, b, chunk, seed = 30, 4, 5, 7
    q, k, v = qkv(n=n, seed=3)
    _, attn = V.lsh(q, k, v, n_buckets=b, n_hashes=2, chunk=chunk, seed=seed)
    buckets = lsh_buckets(torch.cat([q, k])[None, None], b, 2, torch.Generator().manual_seed(seed))[:, 0, 0]
    n_chunks = math.ceil(n / chunk)
    ref = torch.zeros(n, n, dtype=torch.bool)
    for r in range(2):

        def chunk_of(bk):  # sort by (bucket, position), cut into chunks
            order = sorted(range(n), key=lambda pos: (int(bk[pos]), pos))
            return {pos: place // chunk for place, pos in enumerate(order)}

        cq, ck = chunk_of(buckets[r, :n]), chunk_of(buckets[r, n:])
        for i in range(n):
            for j in range(n):
                ref[i, j] |= (cq[i] - ck[j]) % n_chunks in (0, 1)  # same chunk or one back (cyclic)
    assert torch.equal(attn > 0, ref)


def test_lsh_hash_is_argmax_of_rotations():
    x = torch.randn(1, 1, 12, 6, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(5)
    b = lsh_buckets(x, 8, 1, g)[0, 0, 0]
    R = torch.randn(1, 6, 4, generator=torch.Generator().manual_seed(5))[0]
    xr = x[0, 0] @ R
    assert torch.equal(b, torch.cat([xr, -xr], -1).argmax(-1))
    assert torch.equal(lsh_buckets(3.5 * x, 8, 1, torch.Generator().manual_seed(5))[0, 0, 0], b)  # angular


def test_performer_kernel_error_shrinks_with_m():
    """FAVOR+'s estimate of exp(xᵀy) is unbiased with variance ∝ 1/m: the relative MSE, averaged over seeds,
    falls as m grows (iid and orthogonal features)."""
    d = 16
    g = torch.Generator().manual_seed(123)
    x, y = torch.randn(32, d, generator=g) * 0.25, torch.randn(32, d, generator=g) * 0.25
    exact = (x @ y.T).exp()
    for orthogonal in (False, True):
        errs = []
        for m in (8, 32, 128, 512):
            mse = [
                (
                    (
                        softmax_kernel_estimate(
                            x, y, random_features(m, d, orthogonal, torch.Generator().manual_seed(s))
                        )
                        - exact
                    )
                    ** 2
                ).mean()
                / (exact**2).mean()
                for s in range(30)
            ]
            errs.append(float(torch.stack(mse).mean()))
        assert all(a > b for a, b in zip(errs, errs[1:])), errs
        assert errs[-1] < errs[0] / 10, errs


def test_orthogonal_features_are_orthogonal_with_chi_norms():
    om = random_features(40, 16, True, torch.Generator().manual_seed(0))
    block = om[:16] / om[:16].norm(dim=1, keepdim=True)
    torch.testing.assert_close(block @ block.T, torch.eye(16), atol=1e-5, rtol=0)
    assert 2.5 < float(om.norm(dim=1).mean()) < 5.5  # chi_16 has mean ≈ 3.94


def test_performer_is_positive_normalised_and_linear():
    q, k, v = qkv(b=(2, 2), n=18)
    out, attn = V.performer(q.float(), k.float(), v.float(), m=32, seed=2)
    assert (attn > 0).all()
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 18))
    torch.testing.assert_close(attn @ v.float(), out, atol=1e-5, rtol=1e-4)
    out_c, attn_c = V.performer(q.float(), k.float(), v.float(), m=32, seed=2, causal=True)
    assert (attn_c.triu(1) == 0).all()


def test_performer_approaches_softmax_with_many_features():
    q, k, v = (t * 0.5 for t in qkv(n=16, d=8))
    _, ref = V.full(q, k, v)
    errs = [float((V.performer(q, k, v, m=m, seed=0)[1] - ref).abs().mean()) for m in (4, 4096)]
    assert errs[1] < errs[0] / 4 and errs[1] < 0.01


def test_fnet_is_the_real_part_of_two_dfts():
    q, k, v = qkv(n=12, d=6)
    out, attn = V.fnet(q, k, v)
    n, d = 12, 6
    i, j = torch.arange(n, dtype=torch.float64), torch.arange(d, dtype=torch.float64)
    Cn, Sn = torch.cos(2 * math.pi * torch.outer(i, i) / n), torch.sin(2 * math.pi * torch.outer(i, i) / n)
    Cd, Sd = torch.cos(2 * math.pi * torch.outer(j, j) / d), torch.sin(2 * math.pi * torch.outer(j, j) / d)
    torch.testing.assert_close(out, Cn @ v @ Cd - Sn @ v @ Sd)  # Re((C − iS)·V·(C − iS))
    torch.testing.assert_close(attn, Cn)
    out_seq, _ = V.fnet(q, k, v, hidden_fft=False)
    torch.testing.assert_close(out_seq, Cn @ v)


def test_synthesizer_rows_ignore_token_interactions():
    q, k, v = qkv(n=10)
    _, r1 = V.synthesizer(q, k, v, "random", seed=4)
    _, r2 = V.synthesizer(q * 3 + 1, k - 2, v, "random", seed=4)
    torch.testing.assert_close(r1, r2)  # input-independent
    _, d1 = V.synthesizer(q, k, v, "dense", seed=4)
    q2 = q.clone()
    q2[7] += 5.0
    _, d2 = V.synthesizer(q2, k, v, "dense", seed=4)
    changed = (d1 - d2).abs().sum(-1) > 1e-9
    assert changed.tolist() == [i == 7 for i in range(10)]  # row i depends on token i alone


def test_kmeans_one_cluster_and_sinkhorn_one_block_are_full():
    q, k, v = qkv(b=(1, 2), n=16)
    ref_out, _ = V.full(q, k, v)
    torch.testing.assert_close(V.kmeans(q, k, v, n_clusters=1)[0], ref_out)
    torch.testing.assert_close(V.sinkhorn(q, k, v, block=16)[0], ref_out)


def test_sinkhorn_attends_own_block_and_one_sorted_block():
    q, k, v = qkv(n=24, seed=1)
    _, attn = V.sinkhorn(q, k, v, block=4)
    blocks = (attn > 0).reshape(6, 4, 6, 4).any(3).any(1)  # (query block, key block)
    assert blocks.diagonal().all()
    assert (blocks.sum(1) <= 2).all()


def test_every_catalog_variant_on_4d_matches_per_head_2d():
    q, k, v = qkv(b=(1, 2), n=14, seed=2)
    p = V.VariantParams()
    for name in V.VARIANTS:
        out4, attn4 = V.run_variant(name, q, k, v, p)
        if name not in ("lsh", "kmeans", "sinkhorn"):  # hashing/clustering draws per call, not per head
            out2, attn2 = V.run_variant(name, q[0, 1], k[0, 1], v[0, 1], p)
            torch.testing.assert_close(out4[0, 1], out2)
            torch.testing.assert_close(attn4[0, 1], attn2)
        if name != "fnet":
            torch.testing.assert_close(attn4 @ v, out4)


def test_bad_shapes_and_params():
    q, k, v = qkv(n=8)
    with pytest.raises(ValueError):
        V.full(q[None], k, v)
    with pytest.raises(ValueError):
        V.lsh(q, k, v, n_buckets=3)
    with pytest.raises(ValueError):
        V.synthesizer(q, k, v, kind="nope")
