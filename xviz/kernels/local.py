"""Sliding-window attention computed blockwise in O(N·w) memory (Longformer's "sliding chunks").

With half-window c = w/2, query chunk t (positions tc … tc+c−1) can only see keys of chunks t−1, t, t+1, so each
chunk attends to a 3c-key strip under a fixed band mask |i − j| ≤ c: N·3c scores instead of N².
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _strip_mask(n: int, c: int, n_chunks: int, device) -> torch.Tensor:
    """allowed[t, a, b]: query tc+a may see key (t−1)c+b (band |i − j| ≤ c, key inside [0, n)). (nC, c, 3c)"""
    a = torch.arange(c, device=device)
    b = torch.arange(3 * c, device=device)
    band = (a[:, None] + c - b[None, :]).abs() <= c  # (c, 3c): i − j = a + c − b
    key = torch.arange(n_chunks, device=device)[:, None] * c - c + b  # (nC, 3c) global key position
    return band[None] & ((key >= 0) & (key < n))[:, None, :]  # (nC, c, 3c)


def _strips(x: torch.Tensor, c: int, n_chunks: int) -> torch.Tensor:
    """(B, H, N, D) → overlapping key/value strips (B, H, nC, 3c, D), a strided view of the zero-padded x."""
    pad = n_chunks * c - x.shape[-2]
    xp = F.pad(x, (0, 0, c, c + pad))  # (B, H, c + nC·c + c, D)
    return xp.unfold(-2, 3 * c, c).transpose(-1, -2)  # (B, H, nC, 3c, D)


def _explicit(
    qc: torch.Tensor, k: torch.Tensor, v: torch.Tensor, c: int, n_chunks: int, mask: torch.Tensor, scale: float
) -> torch.Tensor:
    """Each query chunk against the previous, own and next key chunk: three contiguous batched matmuls, one
    softmax across the three score blocks computed in place (no concatenation, no strided copies of K, V), so
    the only big buffers are the N·3c scores."""
    BH, D = qc.shape[0], qc.shape[-1]
    pad = n_chunks * c - k.shape[-2]
    kc = F.pad(k, (0, 0, c, c + pad)).reshape(BH, n_chunks + 2, c, D)  # (B·H, nC + 2, c, D)
    vc = F.pad(v, (0, 0, c, c + pad)).reshape(BH, n_chunks + 2, c, D)
    allowed = mask.reshape(n_chunks, c, 3, c)  # (nC, c, 3c) → (nC, c, 3, c)
    parts = []
    for o in range(3):  # key chunk t − 1 + o
        s = qc @ kc[:, o : o + n_chunks].transpose(-2, -1)  # (B·H, nC, c, c)
        parts.append(s.mul_(scale).masked_fill_(~allowed[:, :, o], torch.finfo(s.dtype).min))
    top = torch.stack([s.amax(-1) for s in parts]).amax(0)[..., None]  # (B·H, nC, c, 1)
    denom = sum(s.sub_(top).exp_().sum(-1, keepdim=True) for s in parts)
    return sum(s.div_(denom) @ vc[:, o : o + n_chunks] for o, s in enumerate(parts))  # (B·H, nC, c, D)


def sliding_window_blockwise(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, w: int, use_sdpa: bool | None = None, scale: float | None = None
) -> torch.Tensor:
    """Exactly masked attention with the sliding_window(n, w) pattern (|i − j| ≤ w/2), in O(N·w) memory.
    use_sdpa runs each 3c-key strip through the fused SDPA kernel (default on GPUs); otherwise explicit
    batched matmuls and softmax over the (c, 3c) strips (default on the CPU)."""
    B, H, N, D = q.shape
    c = max(1, w // 2)
    n_chunks = math.ceil(N / c)
    use_sdpa = q.device.type != "cpu" if use_sdpa is None else use_sdpa
    qc = q if n_chunks * c == N else F.pad(q, (0, 0, 0, n_chunks * c - N))
    qc = qc.reshape(B * H, n_chunks, c, D)  # (B·H, nC, c, D)
    mask = _strip_mask(N, c, n_chunks, q.device)  # (nC, c, 3c) broadcast over B·H
    if use_sdpa:
        ks = _strips(k, c, n_chunks).reshape(B * H, n_chunks, 3 * c, D)  # (B·H, nC, 3c, D)
        vs = _strips(v, c, n_chunks).reshape(B * H, n_chunks, 3 * c, D)
        out = F.scaled_dot_product_attention(qc, ks, vs, attn_mask=mask, scale=scale)
    else:
        k, v = k.reshape(B * H, N, D), v.reshape(B * H, N, D)  # (B·H, N, D)
        out = _explicit(qc, k, v, c, n_chunks, mask, scale or 1.0 / math.sqrt(D))
    return out.reshape(B, H, n_chunks * c, D)[:, :, :N]  # (B, H, N, D)
