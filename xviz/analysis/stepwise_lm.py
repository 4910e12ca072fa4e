"""Self-attention step by step in a Llama-family decoder (SmolLM2 through the Hugging Face adapter): RMSNorm,
q/k/v projections without bias, RoPE on q and k, grouped-query attention (K/V heads shared by groups of query
heads), the causal mask, SwiGLU FFN. Every intermediate is computed here from `model.hf_model`'s weights and
checked against the hooks recorded in the same forward (`Step.diff`).

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

from xviz.analysis.stepwise import Step, StepRun, shape_label, verified
from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers.attention import masked_fill_value


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight  # (N, C)


def rope_cos_sin(n: int, d: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (N, D) for positions 0…n−1: angle p·θ_i, θ_i = base^(−2i/D), i < D/2, repeated twice."""
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))  # (D/2,)
    ang = torch.arange(n).float()[:, None] * inv_freq[None, :]  # (N, D/2)
    emb = torch.cat([ang, ang], dim=-1)  # (N, D)
    return emb.cos(), emb.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)  # (…, D): (x1, x2) -> (−x2, x1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + rotate_half(x) * sin


def _geometry(hf) -> tuple[int, int, int, float, float]:
    cfg = hf.config
    H, Hkv = cfg.num_attention_heads, cfg.num_key_value_heads
    D = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
    rp = getattr(cfg, "rope_parameters", None) or {}
    base = float(rp.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
    if rp.get("rope_type", "default") != "default":
        raise InputError(f"RoPE scaling {rp.get('rope_type')!r} is not covered by step by step.")
    return H, Hkv, D, base, cfg.rms_norm_eps


def attention_steps(layer, x, head, toks, L, rec, geo) -> tuple[list[Step], torch.Tensor]:
    """x (N, C) → the attention sub-layer of decoder layer L, one step per operation; returns steps and x + o."""
    t = _attention_tensors(layer, x, head, L, rec, geo)
    return _projection_steps(t, head, toks, L, rec, geo) + _core_steps(t, head, toks, L, rec, geo), t.x + t.o


def _attention_tensors(layer, x, head, L, rec, geo) -> SimpleNamespace:
    """Every tensor of the decoder's attention sub-layer, from the weights (see the module doc for sources)."""
    H, Hkv, D, base, eps = geo
    a, N, p = layer.self_attn, x.shape[0], f"blocks.{L}"
    h = rms_norm(x, layer.input_layernorm.weight, eps)
    Wq, Wk, Wv, Wo = (m.weight.T for m in (a.q_proj, a.k_proj, a.v_proj, a.o_proj))  # (C_in, C_out)
    q, k, v = h @ Wq, h @ Wk, h @ Wv  # (N, H·D), (N, Hkv·D), (N, Hkv·D)
    qh, kh, vh = q.view(N, H, D).transpose(0, 1), k.view(N, Hkv, D).transpose(0, 1), v.view(N, Hkv, D).transpose(0, 1)
    cos, sin = rope_cos_sin(N, D, base)  # (N, D)
    cos, sin = cos.to(x), sin.to(x)
    g = head // (H // Hkv)  # the KV head this query head reads
    q_r, k_r = apply_rope(qh, cos, sin), apply_rope(kh, cos, sin)  # (H, N, D), (Hkv, N, D)
    mask = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()  # (Nq, Nk) causal, True = may attend
    raw = q_r[head] @ k_r[g].T
    scaled = raw / math.sqrt(D)
    masked = scaled.masked_fill(~mask, masked_fill_value(scaled.dtype))
    probs = masked.softmax(-1)
    z_all = torch.stack([_z(q_r[i], k_r[i // (H // Hkv)], vh[i // (H // Hkv)], mask, D) for i in range(H)])
    concat = z_all.transpose(0, 1).reshape(N, H * D)  # (H, N, D) -> (N, H·D)
    o = concat @ Wo
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


def ffn_steps(layer, r, toks, L, rec, eps) -> tuple[list[Step], torch.Tensor]:
    m, p = layer.mlp, f"blocks.{L}"
    h = rms_norm(r, layer.post_attention_layernorm.weight, eps)
    gate, up = h @ m.gate_proj.weight.T, h @ m.up_proj.weight.T  # (N, F) each
    act = F.silu(gate) * up
    out = r + act @ m.down_proj.weight.T
    # a table, one row per operation: kept as written
    # fmt: off
    steps = [
        verified(Step("rms2", "RMSNorm", "h = RMSNorm(r)", h, shape_label("N, C", h), toks),
               rec, f"{p}.norm2.hook_out", rec[f"{p}.norm2.hook_out"][0]),
        Step("swiglu", "SwiGLU hidden layer", "a = SiLU(h·W_gate) ⊙ (h·W_up)", act, shape_label("N, F", act), toks,
             extra={"h·W_gate": gate, "h·W_up": up}, weight=m.gate_proj.weight.T, weight_name="W_gate"),
        verified(Step("out", f"FFN out + residual → output of block {L}", "out = r + a·W_down", out,
                      shape_label("N, C", out),
                    toks, weight=m.down_proj.weight.T, weight_name="W_down"),
               rec, f"{p}.hook_resid_post", rec[f"{p}.hook_resid_post"][0]),
    ]
    # fmt: on
    return steps, out


@torch.no_grad()
def run_lm_steps(model, text: str, layer: int = 0, head: int = 0) -> StepRun:
    """A Llama-family decoder loaded through the HF adapter (kind "lm"), step by step."""
    hf = model.hf_model if model.kind == "lm" else None
    if hf is None or not hasattr(hf, "model") or not hasattr(hf.model, "layers"):
        raise InputError("Decoder step by step needs a Llama-family model loaded through the adapter (smollm2-135m).")
    geo = _geometry(hf)
    layers = hf.model.layers
    if not (0 <= layer < len(layers) and 0 <= head < geo[0]):
        raise InputError(f"Layer must be 0…{len(layers) - 1} and head 0…{geo[0] - 1}.")
    batch = model.prepare(text, max_length=128)
    with record(model, names=[f"blocks.{i}.*" for i in range(layer + 1)]) as rec:
        model(**batch)
    ids = batch["input_ids"][0]
    toks = [f"{i}:{t}" for i, t in enumerate(batch.tokens[0])]
    x = hf.model.embed_tokens.weight[ids]  # (N, C)
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
        x = ffn_steps(layers[i], attention_steps(layers[i], x, head, toks, i, rec, geo)[1], toks, i, rec, geo[4])[1]
    att, r = attention_steps(layers[layer], x, head, toks, layer, rec, geo)
    ffn, out = ffn_steps(layers[layer], r, toks, layer, rec, geo[4])
    return StepRun(
        [emb] + att + ffn, batch.tokens[0], layer, head, geo[2], bool(batch.truncated), rec, out, group=geo[0] // geo[1]
    )
