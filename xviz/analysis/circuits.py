"""QK and OV circuits of attention heads (Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits").

Row convention (x (…, C) @ W, TransformerLens's): W_QK^h = W_Q,h W_K,hᵀ (C × C; the score of query x_i and key
x_j is x_i W_QK x_jᵀ / √D, before RoPE rotates q and k by position), W_OV^h = W_V,h W_O,h (C × C: what a head
writes for the key it reads). Under grouped-query attention query head h shares W_K / W_V of KV head h // (H/Hkv).
Weights are the effective ones on the normalised stream: norm1's weight folded into W_Q, W_K, W_V; for a
LayerNorm model the reading weights centred over C and W_O centred over its output (TransformerLens's fold_ln +
center_writing_weights, which change no output).

- Spectra: singular values of W_QK and W_OV (rank ≤ D), through D × D cores: W = Q₁R₁ (R₂ᵀ…) (QR factors).
- Token tables (the direct path): embeddings normalised as by norm1 → W_OV → final norm's weight → W_U (which
  token a head writes when it attends to token t); and the QK table (which key token a query token t prefers).
- Copying score: Σ λ / Σ |λ| over the eigenvalues of the token-space OV circuit Ê W_OV W_Uᵀ… (V × V), i.e. of the
  D × D matrix W_O W_U' Ê W_V with the same non-zero eigenvalues (positive: the head copies).
- Composition (Elhage et al. 2021): Q: ‖W_OV^{h1} W_QK^{h2}‖_F / (‖W_OV^{h1}‖_F ‖W_QK^{h2}‖_F); K: the same with
  W_QK^{h2 T}; V: with W_OV^{h2}; for h1 in an earlier layer than h2 (TransformerBridge.all_composition_scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xviz.analysis.circuit_inputs import require_lm
from xviz.errors import InputError


@dataclass(frozen=True)
class HeadWeights:
    W_Q: torch.Tensor  # (H, C, D) effective (norm weight folded; LayerNorm: centred)
    W_K: torch.Tensor  # (H, C, D) expanded from the KV heads
    W_V: torch.Tensor  # (H, C, D)
    W_O: torch.Tensor  # (H, D, C)


def head_weights(model, layer: int) -> HeadWeights:
    """Layer `layer`'s per-query-head effective weights (float32, CPU)."""
    bw = model.block_weights(layer)
    a, norm = bw.attn, bw.norm1
    rep = a.W_Q.shape[0] // a.W_K.shape[0]
    w = norm.weight.float().cpu()[None, :, None]  # (1, C, 1): x̂ ⊙ w @ W = x̂ @ (diag(w) W)
    qkv = [t.float().cpu().repeat_interleave(r, 0) * w for t, r in ((a.W_Q, 1), (a.W_K, rep), (a.W_V, rep))]
    W_O = a.W_O.float().cpu()  # (H, D, C)
    if norm.kind == "layer":  # LayerNorm's output has zero mean: centring changes no output
        qkv = [t - t.mean(1, keepdim=True) for t in qkv]  # (H, C, D) centred over C
        W_O = W_O - W_O.mean(2, keepdim=True)  # (H, D, C) centred over C
    return HeadWeights(*qkv, W_O)


def _r(x: torch.Tensor) -> torch.Tensor:
    """(…, C, D) → the (…, D, D) R of its reduced QR: x = Q R with orthonormal Q, so ‖M xᵀ‖ = ‖M Rᵀ‖."""
    return torch.linalg.qr(x, mode="r").R


@dataclass(frozen=True)
class Spectra:
    qk: torch.Tensor  # (D,) singular values of W_QK, largest first
    ov: torch.Tensor  # (D,) singular values of W_OV


def spectra(model, layer: int, head: int) -> Spectra:
    hw = head_weights(model, layer)
    qk = torch.linalg.svdvals(_r(hw.W_Q[head]) @ _r(hw.W_K[head]).T)  # R_Q R_Kᵀ (D, D)
    ov = torch.linalg.svdvals(_r(hw.W_V[head]) @ _r(hw.W_O[head].T).T)  # R_V R_Oᵀ (D, D)
    return Spectra(qk, ov)


def normalised_embeddings(model, ids: torch.Tensor | None = None) -> torch.Tensor:
    """(V or n, C) embedding rows normalised as a norm would (no weight: it is folded into the head weights)."""
    W_E = model.embedding_weights().float().cpu()  # (V, C)
    x = W_E if ids is None else W_E[ids]
    norm = model.final_norm_weights()
    if norm is not None and norm.kind == "layer":
        x = x - x.mean(-1, keepdim=True)
        return x / (x.var(-1, unbiased=False, keepdim=True) + norm.eps).sqrt()
    eps = norm.eps if norm is not None else 1e-6
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def _unembed(model) -> torch.Tensor:
    """(C, V) W_U with the final norm's weight folded in."""
    W_U = model.unembedding_weights().float().cpu()  # (C, V)
    norm = model.final_norm_weights()
    return W_U * norm.weight.float().cpu()[:, None] if norm is not None else W_U


@dataclass(frozen=True)
class TokenTable:
    sources: list[int]  # the token ids read (OV: attended-to tokens; QK: query tokens)
    top_ids: torch.Tensor  # (S, k) best tokens per source (OV: written; QK: preferred keys)
    top_vals: torch.Tensor  # (S, k)
    self_rank: torch.Tensor  # (S,) rank of the source token itself in its row (0 = top): copying / self-attention


def _table(sources: torch.Tensor, scores: torch.Tensor, k: int) -> TokenTable:
    top = scores.topk(k, dim=-1)
    own = scores.gather(1, sources[:, None])  # (S, 1)
    return TokenTable(sources.tolist(), top.indices, top.values, (scores > own).sum(-1))


def ov_table(model, layer: int, head: int, sources, k: int = 5) -> TokenTable:
    """For each source token t: the tokens the head's write raises most when it attends to t (direct path)."""
    require_lm(model)
    src = torch.as_tensor(sources, dtype=torch.long).reshape(-1)
    hw = head_weights(model, layer)
    out = normalised_embeddings(model, src) @ hw.W_V[head] @ hw.W_O[head]  # (S, C)
    if model.final_norm_weights() is not None and model.final_norm_weights().kind == "layer":
        out = out - out.mean(-1, keepdim=True)
    return _table(src, out @ _unembed(model), k)  # (S, V) logits


def qk_table(model, layer: int, head: int, queries, k: int = 5) -> TokenTable:
    """For each query token t: the key tokens with the highest score x̂_t W_QK x̂_kᵀ / √D (no positions)."""
    require_lm(model)
    q_ids = torch.as_tensor(queries, dtype=torch.long).reshape(-1)
    hw = head_weights(model, layer)
    q = normalised_embeddings(model, q_ids) @ hw.W_Q[head]  # (S, D)
    keys = normalised_embeddings(model) @ hw.W_K[head]  # (V, D)
    return _table(q_ids, q @ keys.T / hw.W_Q.shape[-1] ** 0.5, k)  # (S, V)


def token_gram(model) -> torch.Tensor:
    """(C, C) W_U' Ê: the unembedding (final norm's weight folded) times the normalised embeddings, the part of
    every head's token-space OV circuit that does not depend on the head (C²·V FLOPs: compute it once)."""
    require_lm(model)
    return _unembed(model) @ normalised_embeddings(model)  # (C, V) @ (V, C) → (C, C)


def copying_scores(model, layer: int, gram: torch.Tensor | None = None) -> torch.Tensor:
    """(H,) Σ Re λ / Σ |λ| of each head's token-space OV circuit (Elhage et al. 2021): 1 = pure copying."""
    G = token_gram(model) if gram is None else gram  # (C, C)
    hw = head_weights(model, layer)
    M = hw.W_O @ G @ hw.W_V  # (H, D, C) @ (C, C) @ (H, C, D) → (H, D, D)
    lam = torch.linalg.eigvals(M)  # (H, D) complex
    return lam.real.sum(-1) / lam.abs().sum(-1).clamp_min(1e-12)


# ---- composition ------------------------------------------------------------------------------------------------
def _factors(model) -> tuple[torch.Tensor, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Per head (T = L·H): the left factor R_V W_O (T, D, C) of W_OV, and for each mode the right factor as
    (A (T, C, D), B (T, D, D)) with ‖M · right‖_F = ‖M A B‖_F."""
    hws = [head_weights(model, i) for i in range(model.num_layers)]
    cat = {k: torch.cat([getattr(h, k) for h in hws]) for k in ("W_Q", "W_K", "W_V", "W_O")}  # (T, …)
    rq, rk, rv, ro = _r(cat["W_Q"]), _r(cat["W_K"]), _r(cat["W_V"]), _r(cat["W_O"].transpose(1, 2))  # (T, D, D)
    left = rv @ cat["W_O"]  # (T, D, C): W_OV = Q_V (R_V W_O)
    rights = {
        "Q": (cat["W_Q"], rk.transpose(1, 2)),  # W_QK = W_Q R_Kᵀ Q_Kᵀ
        "K": (cat["W_K"], rq.transpose(1, 2)),  # W_QKᵀ = W_K R_Qᵀ Q_Qᵀ
        "V": (cat["W_V"], ro.transpose(1, 2)),  # W_OV = W_V R_Oᵀ Q_Oᵀ
    }
    return left, rights


def composition_scores(model, mode: str, progress=None) -> torch.Tensor:
    """(L, H, L, H): score of head (l1, h1) writing into head (l2, h2)'s `mode` (Q | K | V) input; 0 unless
    l1 < l2 (TransformerLens's all_composition_scores layout)."""
    if mode not in ("Q", "K", "V"):
        raise InputError(f"Composition mode must be Q, K or V, not {mode!r}.")
    L, H = model.num_layers, model.num_heads
    left, rights = _factors(model)
    A, B = rights[mode]
    right_norm = (A @ B).flatten(1).norm(dim=-1)  # (T,)
    left_norm = left.flatten(1).norm(dim=-1)  # (T,)
    out = torch.zeros(L * H, L * H)
    for l2 in range(1, L):
        if progress:
            progress(l2 * l2 / (L * L), f"Heads of layer {l2} reading from every earlier head")
        tgt = slice(l2 * H, (l2 + 1) * H)
        prod = torch.einsum("sdc,tce->stde", left[: l2 * H], A[tgt]) @ B[tgt][None]  # (S, H, D, D)
        num = prod.flatten(2).norm(dim=-1)  # (S, H)
        out[: l2 * H, tgt] = num / (left_norm[: l2 * H, None] * right_norm[None, tgt]).clamp_min(1e-12)
    return out.reshape(L, H, L, H)  # (T, T) → (L, H, L, H)


def composition_into(model, layer: int, head: int, mode: str) -> torch.Tensor:
    """(L, H): every earlier head's composition score into (layer, head)'s `mode` input (0 for layers ≥ layer)."""
    if mode not in ("Q", "K", "V"):
        raise InputError(f"Composition mode must be Q, K or V, not {mode!r}.")
    L, H = model.num_layers, model.num_heads
    out = torch.zeros(L, H)
    if layer == 0:
        return out
    earlier = [head_weights(model, i) for i in range(layer)]
    left = torch.cat([_r(h.W_V) @ h.W_O for h in earlier])  # (S, D, C): R_V W_O of every earlier head
    hw = head_weights(model, layer)
    A, other = {"Q": (hw.W_Q, hw.W_K), "K": (hw.W_K, hw.W_Q), "V": (hw.W_V, hw.W_O.transpose(1, 2))}[mode]
    B = _r(other[head]).T  # (D, D)
    right = A[head] @ B  # (C, D)
    num = (left @ right).flatten(1).norm(dim=-1)  # (S, D, D) → (S,)
    out[:layer] = (num / (left.flatten(1).norm(dim=-1) * right.norm()).clamp_min(1e-12)).reshape(layer, H)
    return out
