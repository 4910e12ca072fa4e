"""Self-attention step by step in a Llama-family decoder (SmolLM2 through the Hugging Face adapter): RMSNorm,
q/k/v projections without bias, RoPE on q and k, grouped-query attention (K/V heads shared by groups of query
heads), the causal mask, SwiGLU FFN. Every intermediate is computed here from the model's weights
(`model.block_weights`, one per-head layout whatever the family) and checked against the hooks recorded in the same
forward (`Step.diff`).

Sources: RMSNorm (Zhang & Sennrich 2019): x / √(mean(x²) + ε) ⊙ γ. RoPE (Su et al. 2021, RoFormer) in HF's
"rotate_half" layout: q' = q ⊙ cos(pθ) + rotate_half(q) ⊙ sin(pθ), θ_i = base^(−2i/D), the D/2 frequencies
repeated twice. GQA (Ainslie et al. 2023): query head h reads KV head h // (H / H_kv). SwiGLU (Shazeer 2020):
W_down·(SiLU(x·W_gate) ⊙ x·W_up).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from xviz.analysis.stepwise import Step, StepRun, shape_label, step_limit, verified
from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers import masks
from xviz.layers.attention import masked_fill_value
from xviz.layers.pos_embed import rope, rope_angles
from xviz.models.contract import LanguageModel, NormWeights


def rms_norm(x: torch.Tensor, norm: NormWeights) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight  # (N, C)


def _geometry(model) -> tuple[int, int, int, float, float]:
    if model.rope_base is None:
        raise InputError("Decoder step by step covers models with plain RoPE (no RoPE scaling).")
    return model.num_heads, model.num_kv_heads, model.head_dim, model.rope_base, 0.0


def attention_steps(layer, x, head, toks, L, rec, geo) -> tuple[list[Step], torch.Tensor]:
    """x (N, C) → the attention sub-layer of decoder layer L, one step per operation; returns steps and x + o."""
    t = _attention_tensors(layer, x, head, L, rec, geo)
    return _projection_steps(t, head, toks, L, rec, geo) + _core_steps(t, head, toks, L, rec, geo), t.x + t.o


def _attention_tensors(layer, x, head, L, rec, geo) -> SimpleNamespace:
    """Every tensor of the decoder's attention sub-layer, from the weights (see the module doc for sources)."""
    H, Hkv, D, base, _ = geo
    a, N, p = layer.attn, x.shape[0], f"blocks.{L}"
    h = rms_norm(x, layer.norm1)
    # per-head (H, C, D) → the (H·D, C) rows nn.Linear holds, seen transposed as (C, H·D): the model's own layout,
    # so the products below run the same kernel as the model (bit-equal hooks)
    Wq, Wk, Wv = (w.permute(0, 2, 1).reshape(-1, w.shape[1]).contiguous().T for w in (a.W_Q, a.W_K, a.W_V))
    Wo = a.W_O.reshape(-1, a.W_O.shape[-1]).T.contiguous().T  # (H, D, C) → (H·D, C), stored as (C, H·D) rows
    q, k, v = h @ Wq, h @ Wk, h @ Wv  # (N, H·D), (N, Hkv·D), (N, Hkv·D)
    qh, kh, vh = q.view(N, H, D).transpose(0, 1), k.view(N, Hkv, D).transpose(0, 1), v.view(N, Hkv, D).transpose(0, 1)
    cos = rope_angles(torch.arange(N), D, base, torch.float32).repeat(1, 2).cos().to(x)  # (N, D): p·θ_i, halves
    g = head // (H // Hkv)  # the KV head this query head reads
    # HF's layout (pairs i, i + D/2) and its float32 angles: equal to the model's own rotated q and k
    q_r, k_r = (rope(t, base=base, interleaved=False, angle_dtype=torch.float32) for t in (qh, kh))  # (H|Hkv, N, D)
    mask = masks.causal(N, device=x.device)  # (Nq, Nk), True = may attend
    raw = q_r[head] @ k_r[g].T
    scaled = raw / math.sqrt(D)
    masked = scaled.masked_fill(~mask, masked_fill_value(scaled.dtype))
    probs = masked.softmax(-1)
    z_all = torch.stack([_z(q_r[i], k_r[i // (H // Hkv)], vh[i // (H // Hkv)], mask, D) for i in range(H)])
    concat = z_all.transpose(0, 1).reshape(N, H * D)  # (H, N, D) -> (N, H·D)
    o = concat @ Wo  # (N, C)
    sharers = [i for i in range(H) if i // (H // Hkv) == g]
    rec_q, rec_k = rec[f"{p}.attn.hook_q"][0], rec[f"{p}.attn.hook_k"][0]
    return SimpleNamespace(
        x=x,
        o=o,
        h=h,
        q=q,
        k=k,
        v=v,
        qh=qh,
        kh=kh,
        vh=vh,
        q_r=q_r,
        k_r=k_r,
        cos=cos,
        g=g,
        raw=raw,
        scaled=scaled,
        masked=masked,
        probs=probs,
        concat=concat,
        sharers=sharers,
        rec_q=rec_q,
        rec_k=rec_k,
        Wq=Wq,
        Wk=Wk,
        Wv=Wv,
        Wo=Wo,
    )


def _projection_steps(t, head, toks, L, rec, geo) -> list[Step]:
    H, Hkv, D, base, _ = geo
    N, p, hd = t.x.shape[0], f"blocks.{L}", [f"d{j}" for j in range(D)]
    x, h, q, k, v, qh, kh, q_r, k_r, cos, g = t.x, t.h, t.q, t.k, t.v, t.qh, t.kh, t.q_r, t.k_r, t.cos, t.g
    Wq, Wk, Wv, sharers, rec_q, rec_k = t.Wq, t.Wk, t.Wv, t.sharers, t.rec_q, t.rec_k
    # a table, one row per operation: kept as written
    # fmt: off
    return [
        verified(Step("x", f"Input of block {L}", "x (N × C); no position embedding was added (RoPE, below)", x,
                    shape_label("N, C", x), toks), rec, f"{p}.hook_resid_pre", rec[f"{p}.hook_resid_pre"][0]),
        verified(Step("rms1", "RMSNorm", "h = x / √(mean(x²) + ε) ⊙ γ  (no mean subtraction, no β)", h,
                    shape_label("N, C", h), toks), rec, f"{p}.norm1.hook_out", rec[f"{p}.norm1.hook_out"][0]),
        Step("q", "Queries Q = h·W_Q", f"Q = h·W_Q,  W_Q: C × H·D = {Wq.shape[0]} × {Wq.shape[1]} (no bias)", q,
             shape_label("N, H·D", q), toks, weight=Wq, weight_name="W_Q"),
        Step("k", "Keys K = h·W_K", f"K = h·W_K,  W_K: C × H_kv·D = {Wk.shape[0]} × {Wk.shape[1]}: {Hkv} KV heads",
             k, shape_label("N, H_kv·D", k), toks, weight=Wk, weight_name="W_K"),
        verified(Step("v", "Values V = h·W_V", "V = h·W_V (no RoPE on values)", v, shape_label("N, H_kv·D", v), toks,
                    weight=Wv, weight_name="W_V"), rec, f"{p}.attn.hook_v",
               rec[f"{p}.attn.hook_v"][0].transpose(0, 1).reshape(N, Hkv * D)),
        Step("split", f"Split into heads; head {head}'s slice (before RoPE)",
             f"Q: (N, H·D) → (H, N, D), H = {H}; K, V: → (H_kv, N, D), H_kv = {Hkv}", qh[head],
             f"(N, H·D) = ({N}, {H * D}) → (H, N, D) = ({H}, {N}, {D})", toks, hd),
        verified(Step("rope_q", f"RoPE rotates q of head {head}", "q'_p = q_p ⊙ cos(pθ) + rotate_half(q_p) ⊙ sin(pθ),"
                    f"  θ_i = {base:g}^(−2i/D)", q_r[head], shape_label("N, D", q_r[head]), toks, hd,
                    extra={"before RoPE": qh[head], "cos(pθ)": cos}, note="Each pair of dimensions (i, i + D/2) "
                    "turns by the angle p·θ_i: position p enters q·k only through the offset between q and k."),
               rec, f"{p}.attn.hook_q", rec_q[head]),
        verified(Step("gqa", f"GQA: head {head} reads K/V head {g}",
                    f"k'_{g} = RoPE(K[:, head {g}]),  g = h // (H / H_kv) = {head} // {H // Hkv}", k_r[g],
                    shape_label("N, D", k_r[g]), toks, hd, extra={"before RoPE": kh[g]},
                    note=f"Query heads {sharers} share this key and value head: the KV cache is {H // Hkv}× smaller."),
               rec, f"{p}.attn.hook_k", rec_k[g]),
    ]
    # fmt: on


def _core_steps(t, head, toks, L, rec, geo) -> list[Step]:
    H, _, D, _, _ = geo
    N, p, hd = t.x.shape[0], f"blocks.{L}", [f"d{j}" for j in range(D)]
    x, o, vh, g, raw, scaled, masked, probs, concat, Wo = (
        t.x,
        t.o,
        t.vh,
        t.g,
        t.raw,
        t.scaled,
        t.masked,
        t.probs,
        t.concat,
        t.Wo,
    )
    # a table, one row per operation: kept as written
    # fmt: off
    return [
        Step("qk", "Scores q'·k'ᵀ", "S_ij = q'_i · k'_j", raw, shape_label("Nq, Nk", raw), toks, toks),
        Step("scale", "÷ √D", f"S_ij / √{D}", scaled, shape_label("Nq, Nk", scaled), toks, toks, extra={"q·k": raw}),
        verified(Step("mask", "Causal mask", "S_ij ← −∞ for j > i (a token never sees the future)", masked,
                    shape_label("Nq, Nk", masked), toks, toks, extra={"before mask": scaled}),
               rec, f"{p}.attn.hook_scores", rec[f"{p}.attn.hook_scores"][0, head]),
        verified(Step("softmax", "Softmax over keys", "A_ij = exp(S_ij) / Σ_k exp(S_ik)", probs, shape_label("Nq, Nk",
                      probs),
                    toks, toks, extra={"score": masked}, signed=False),
               rec, f"{p}.attn.hook_probs", rec[f"{p}.attn.hook_probs"][0, head]),
        verified(Step("av", "Weighted values A·V", f"z = A·v_{g}", probs @ vh[g], shape_label("N, D", vh[g]), toks, hd),
               rec, f"{p}.attn.hook_z", rec[f"{p}.attn.hook_z"][0, head]),
        verified(Step("concat", "Concatenate the heads", "(H, N, D) → (N, H·D)", concat, shape_label("N, H·D",
                      concat), toks),
               rec, f"{p}.attn.hook_z", rec[f"{p}.attn.hook_z"][0].transpose(0, 1).reshape(N, H * D)),
        Step("wo", "Output projection ·W_O", "o = Concat(z)·W_O", o, shape_label("N, C", o), toks, weight=Wo,
             weight_name="W_O"),
        verified(Step("res1", "Residual add (pre-norm: no LayerNorm after)", "x + o", x + o, shape_label("N, C", o),
                      toks),
               rec, f"{p}.hook_resid_mid", rec[f"{p}.hook_resid_mid"][0]),
    ]
    # fmt: on


def _z(q, k, v, mask, D):
    s = (q @ k.T / math.sqrt(D)).masked_fill(~mask, masked_fill_value(q.dtype))  # (N, N)
    return s.softmax(-1) @ v


def ffn_steps(layer, r, toks, L, rec) -> tuple[list[Step], torch.Tensor]:
    m, p = layer.mlp, f"blocks.{L}"
    h = rms_norm(r, layer.norm2)
    gate, up = h @ m.W_gate, h @ m.W_in  # (N, F) each
    act = F.silu(gate) * up
    out = r + act @ m.W_out
    # a table, one row per operation: kept as written
    # fmt: off
    steps = [
        verified(Step("rms2", "RMSNorm", "h = RMSNorm(r)", h, shape_label("N, C", h), toks),
               rec, f"{p}.norm2.hook_out", rec[f"{p}.norm2.hook_out"][0]),
        Step("swiglu", "SwiGLU hidden layer", "a = SiLU(h·W_gate) ⊙ (h·W_up)", act, shape_label("N, F", act), toks,
             extra={"h·W_gate": gate, "h·W_up": up}, weight=m.W_gate, weight_name="W_gate"),
        verified(Step("out", f"FFN out + residual → output of block {L}", "out = r + a·W_down", out,
                      shape_label("N, C", out),
                    toks, weight=m.W_out, weight_name="W_down"),
               rec, f"{p}.hook_resid_post", rec[f"{p}.hook_resid_post"][0]),
    ]
    # fmt: on
    return steps, out


@torch.no_grad()
def run_lm_steps(model, text: str, layer: int = 0, head: int = 0) -> StepRun:
    """A Llama-family decoder loaded through the HF adapter (kind "lm"), step by step."""
    if model.kind != "lm" or not isinstance(model, LanguageModel):
        raise InputError("Decoder step by step needs a Llama-family language model (smollm2-135m).")
    geo = _geometry(model)
    if not (0 <= layer < model.num_layers and 0 <= head < geo[0]):
        raise InputError(f"Layer must be 0…{model.num_layers - 1} and head 0…{geo[0] - 1}.")
    layers = [model.block_weights(i) for i in range(layer + 1)]  # InputError for a family the view lacks
    if layers[0].mlp.W_gate is None or layers[0].norm1.kind != "rms":
        raise InputError("Decoder step by step follows the Llama layout (RMSNorm, SwiGLU): pick smollm2-135m.")
    batch = model.prepare(text, max_length=step_limit(model))
    with record(model, names=[f"blocks.{i}.*" for i in range(layer + 1)]) as rec:
        model(**batch)
    ids = batch["input_ids"][0]
    toks = [f"{i}:{t}" for i, t in enumerate(batch.tokens[0])]
    x = model.embedding_weights()[ids]  # (N, C)
    emb = verified(
        Step(
            "tok",
            "Token embeddings",
            "E_tok[id_i]  (no position table: positions enter by RoPE)",
            x,
            shape_label("N, C", x),
            toks,
        ),
        rec,
        "blocks.0.hook_resid_pre",
        rec["blocks.0.hook_resid_pre"][0],
    )
    for i in range(layer):
        x = ffn_steps(layers[i], attention_steps(layers[i], x, head, toks, i, rec, geo)[1], toks, i, rec)[1]
    att, r = attention_steps(layers[layer], x, head, toks, layer, rec, geo)
    ffn, out = ffn_steps(layers[layer], r, toks, layer, rec)
    return StepRun(
        [emb] + att + ffn, batch.tokens[0], layer, head, geo[2], bool(batch.truncated), rec, out, group=geo[0] // geo[1]
    )
