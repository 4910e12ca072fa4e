"""Content-based sparsity: Reformer LSH, routing-style k-means clustering, Sinkhorn block sorting.

Each builds the set of (query, key) pairs its algorithm would compute and attends exactly within it, so `attn`
is the variant's effective attention. These are dense reference implementations for visualisation (N ≤ a few
thousand); the timed kernels live in xviz.kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xviz.layers import masks
from xviz.variants._common import attend, default_scale, from_4d, make_generator, normalize, to_4d


# ---- Reformer (Kitaev et al. 2020) ----------------------------------------------------------------------------
def lsh_buckets(x: torch.Tensor, n_buckets: int, n_hashes: int, generator: torch.Generator) -> torch.Tensor:
    """Angular LSH: h(x) = argmax([xR; −xR]) with a random R (D × b/2) per round. x (B, H, N, D) → (R, B, H, N)."""
    if n_buckets == 1:
        return torch.zeros(n_hashes, *x.shape[:-1], dtype=torch.long, device=x.device)
    if n_buckets < 1 or n_buckets % 2:
        raise ValueError(f"n_buckets must be 1 or even, got {n_buckets}")
    R = torch.randn(n_hashes, x.shape[-1], n_buckets // 2, generator=generator).to(x)  # (R, D, b/2)
    proj = torch.einsum("bhnd,rdk->rbhnk", x, R)  # (R, B, H, N, b/2)
    return torch.cat([proj, -proj], dim=-1).argmax(-1)  # (R, B, H, N)


def _chunk_of(buckets: torch.Tensor, chunk: int) -> torch.Tensor:
    """Sort by (bucket, position) and cut the sorted order into chunks: chunk index of each position. (..., N)"""
    n = buckets.shape[-1]
    key = buckets * n + torch.arange(n, device=buckets.device)
    rank = key.argsort(-1).argsort(-1)  # position → place in the sorted order
    return rank // chunk


def lsh(
    q,
    k,
    v,
    n_buckets: int = 4,
    n_hashes: int = 1,
    chunk: int | None = None,
    shared_qk: bool = False,
    causal: bool = False,
    scale: float | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
):
    """Reformer LSH attention. chunk defaults to ⌈N / n_buckets⌉ (the mean bucket size), so one bucket is full
    attention. shared_qk: keys are the normalised queries (Reformer's shared-QK) and a token attends to itself
    only when it has no other target. Several rounds attend over the union of their sets (Reformer's multi-round
    output with duplicates counted once). Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n = q.shape[-2]
    chunk = chunk or math.ceil(n / n_buckets)
    g = make_generator(generator, seed)
    if shared_qk:
        k = normalize(q)
        mask = _lsh_mask(q, None, n_buckets, n_hashes, chunk, g)
        eye = torch.eye(n, dtype=torch.bool, device=q.device)
        others = (mask & ~eye).any(-1, keepdim=True)
        mask = mask & ~(eye & others)
    else:
        mask = _lsh_mask(q, k, n_buckets, n_hashes, chunk, g)
    if causal:
        mask = mask & masks.causal(n, device=q.device)
    out, attn = attend(q, k, v, mask, scale)
    return from_4d(out, sq), from_4d(attn, sq)


def _lsh_mask(q, k, n_buckets, n_hashes, chunk, g) -> torch.Tensor:
    """Hash q (and k, with the same rotations) and build the chunk pattern. (B, H, N, N)"""
    n = q.shape[-2]
    n_chunks = math.ceil(n / chunk)
    x = q if k is None else torch.cat([q, k], dim=-2)  # (B, H, N or 2N, D)
    b = lsh_buckets(x, n_buckets, n_hashes, g)  # (R, B, H, N or 2N)
    cq = _chunk_of(b[..., :n], chunk)
    ck = cq if k is None else _chunk_of(b[..., n:], chunk)
    back = (cq[..., :, None] - ck[..., None, :]) % n_chunks  # (R, B, H, Nq, Nk)
    return ((back == 0) | (back == 1)).any(0)


# ---- Routing Transformer (Roy et al. 2021) --------------------------------------------------------------------
def spherical_kmeans(x: torch.Tensor, n_clusters: int, iters: int, generator: torch.Generator) -> torch.Tensor:
    """Spherical k-means on unit vectors x (B, H, P, D), seeded init from the points. → centroids (B, H, C, D)."""
    idx = torch.randperm(x.shape[-2], generator=generator)[:n_clusters].to(x.device)
    cent = x[..., idx, :]  # (B, H, C, D)
    for _ in range(iters):
        assign = F.one_hot((x @ cent.transpose(-2, -1)).argmax(-1), cent.shape[-2]).to(x.dtype)  # (B, H, P, C)
        sums = assign.transpose(-2, -1) @ x  # (B, H, C, D)
        empty = assign.sum(-2)[..., None] == 0  # (B, H, C, 1)
        cent = torch.where(empty, cent, normalize(sums))
    return cent


def kmeans(
    q,
    k,
    v,
    n_clusters: int = 4,
    iters: int = 10,
    balanced: bool = True,
    causal: bool = False,
    scale: float | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
):
    """Routing attention: k-means on the unit-normalised queries and keys together; a query attends to the keys
    of its cluster(s). balanced=True routes like the Routing Transformer (each centroid takes its ⌈N/C⌉ nearest
    queries and keys, so a token may sit in several clusters or in none); False assigns each to its nearest
    centroid. A query in no cluster with keys outputs zeros. Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n = q.shape[-2]
    n_clusters = max(1, min(n_clusters, 2 * n))
    qn, kn = normalize(q.float()), normalize(k.float())
    cent = spherical_kmeans(torch.cat([qn, kn], -2), n_clusters, iters, make_generator(generator, seed))
    mq, mk = _membership(qn @ cent.transpose(-2, -1), balanced), _membership(kn @ cent.transpose(-2, -1), balanced)
    mask = (mq.float() @ mk.float().transpose(-2, -1)) > 0  # (B, H, Nq, Nk)
    if causal:
        mask = mask & masks.causal(n, device=q.device)
    out, attn = attend(q, k, v, mask, scale)
    return from_4d(out, sq), from_4d(attn, sq)


def _membership(sim: torch.Tensor, balanced: bool) -> torch.Tensor:
    """sim (B, H, N, C) → bool membership (B, H, N, C)."""
    n, c = sim.shape[-2:]
    if not balanced:
        return F.one_hot(sim.argmax(-1), c).bool()
    top = sim.topk(min(n, math.ceil(n / c)), dim=-2).indices  # (B, H, w, C)
    return torch.zeros_like(sim, dtype=torch.bool).scatter(-2, top, True)


# ---- Sparse Sinkhorn attention (Tay et al. 2020) ---------------------------------------------------------------
def sinkhorn_normalize(logits: torch.Tensor, iters: int) -> torch.Tensor:
    """Alternate row and column normalisation in log space → a (near) doubly stochastic matrix."""
    for _ in range(iters):
        logits = logits - logits.logsumexp(-1, keepdim=True)
        logits = logits - logits.logsumexp(-2, keepdim=True)
    return logits.exp()


def sinkhorn(
    q, k, v, block: int = 4, iters: int = 8, temperature: float = 0.75, causal: bool = False, scale: float | None = None
):
    """Sinkhorn block sorting: blocks of `block` tokens; block-to-block logits from a sorting net, Sinkhorn-
    normalised, then each query block attends to its own block and the block sorted into its place
    (hard argmax). The learned sorting net is replaced by a parameter-free one, the similarity of block-mean
    queries and keys (this is an untrained illustration). Returns (out, attn)."""
    (q, k, v), sq = to_4d(q, k, v)
    n, d = q.shape[-2:]
    nb = math.ceil(n / block)
    bid = torch.arange(n, device=q.device) // block  # token → block
    pool = F.one_hot(bid, nb).to(q.dtype)  # (N, nb)
    pool = pool / pool.sum(0, keepdim=True)  # block means (partial last block ok)
    qb, kb = pool.T @ q, pool.T @ k  # (B, H, nb, D)
    logits = (qb @ kb.transpose(-2, -1)) * default_scale(d, scale) / temperature  # (B, H, nb, nb)
    perm = sinkhorn_normalize(logits.float(), iters).argmax(-1)  # (B, H, nb): sorted block per place
    blocks = torch.arange(nb, device=q.device)
    allowed = (blocks[:, None] == blocks[None, :]) | (perm[..., :, None] == blocks)  # (B, H, nb, nb)
    mask = allowed[..., bid, :][..., bid]  # (B, H, N, N)
    if causal:
        mask = mask & masks.causal(n, device=q.device)
    out, attn = attend(q, k, v, mask, scale)
    return from_4d(out, sq), from_4d(attn, sq)
