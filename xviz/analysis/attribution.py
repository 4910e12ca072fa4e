"""Direct logit attribution (Elhage et al. 2021; Wang et al. 2022; TransformerLens's `apply_ln_to_stack`).

The last position's final residual stream is a sum of parts: the embedding, each layer's attention output (each
head's z_h W_O,h, plus b_O) and each MLP output. The final norm is x ↦ (x − μ) / s · w + b (LayerNorm; RMSNorm:
no μ, no b), whose scale s = √(mean x² + ε) (RMS) or √(var x + ε) (LN) is taken from the run and frozen, so the
logit difference splits linearly:

    logit[a] − logit[b] = Σ_parts (part − μ_part) / s · (w ⊙ (W_U[:, a] − W_U[:, b])) + b · (W_U[:, a] − W_U[:, b])

(+ the unembedding bias difference, if any). The last terms — and any soft-cap of the logits — are no part's
contribution: they are shown as the remainder. Weights come from the model's per-head weight view.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import xviz
from xviz.analysis.circuit_inputs import prompt_ids, require_lm, token_id


@dataclass(frozen=True)
class LogitAttribution:
    labels: list[str]  # "embed", "L0 attn", "L0 mlp", …
    parts: torch.Tensor  # (2L+1,) each part's direct contribution to the logit difference
    heads: torch.Tensor  # (L, H) each head's (attention outputs without b_O)
    head_bias: torch.Tensor  # (L,) the biases' share of each attention layer: b_O + Σ_h c_h W_O,h
    logit_diff: float  # the model's own logit[a] − logit[b] at the last position
    remainder: float  # logit_diff − Σ parts: the final norm's bias, the unembedding bias, soft-capping
    scale: float  # the final norm's frozen scale s at the last position
    answer: int
    wrong: int


def _final_scale(x: torch.Tensor, norm) -> torch.Tensor:
    """The final norm's scale of the stream x (…, C): √(mean x² + ε) (RMS) or √(var x + ε) (LayerNorm)."""
    x = x.float()
    if norm.kind == "layer":
        return (x.var(-1, unbiased=False, keepdim=True) + norm.eps).sqrt()
    return (x.pow(2).mean(-1, keepdim=True) + norm.eps).sqrt()


def logit_direction(model, answer: int, wrong: int) -> torch.Tensor:
    """(C,) w ⊙ (W_U[:, a] − W_U[:, b]): the final norm's weight folded into the unembedding difference."""
    W_U = model.unembedding_weights()  # (C, V)
    d = (W_U[:, answer] - W_U[:, wrong]).float().cpu()  # (C,)
    norm = model.final_norm_weights()
    return d * norm.weight.float().cpu() if norm is not None else d


def apply_frozen_norm(stack: torch.Tensor, final_resid: torch.Tensor, norm) -> torch.Tensor:
    """Parts (K, C) of a stream whose sum is `final_resid` (C,) → each centred (LayerNorm) and divided by the
    stream's scale (as TransformerLens's apply_ln_to_stack with the cached hook_scale)."""
    if norm is None:
        return stack.float()
    stack = stack.float()
    if norm.kind == "layer":
        stack = stack - stack.mean(-1, keepdim=True)
    return stack / _final_scale(final_resid, norm)


def _record(model, ids: torch.Tensor, extra: tuple[str, ...] = ()):
    L = model.num_layers
    names = [f"blocks.{i}.hook_resid_{s}" for i in range(L) for s in ("pre", "mid", "post")]
    names += [f"blocks.{i}.attn.hook_z" for i in range(L)] + list(extra)
    with torch.no_grad(), xviz.record(model, names=names) as rec:
        out = model(input_ids=ids[None].to(model.device), logits_to_keep=1, use_cache=False)
    return out.logits[0, -1].float().cpu(), rec


def value_constant(model, layer: int) -> torch.Tensor | None:
    """(H, D) the part of each head's z that no input changes: b_V + b_norm1 · W_V (attention rows sum to 1, so a
    constant value reaches z unchanged); None when the model has neither bias."""
    bw = model.block_weights(layer)
    attn, nb = bw.attn, bw.norm1.bias
    const = attn.b_V.float().cpu() if attn.b_V is not None else None  # (Hkv, D)
    if nb is not None:
        from_norm = torch.einsum("c,kcd->kd", nb.float().cpu(), attn.W_V.float().cpu())  # (Hkv, D)
        const = from_norm if const is None else const + from_norm
    if const is None:
        return None
    return const.repeat_interleave(attn.W_O.shape[0] // const.shape[0], 0)  # (Hkv, D) → (H, D): head h reads h // rep


def head_outputs(model, z: torch.Tensor, layer: int) -> torch.Tensor:
    """z (H, D) of one position → (H, C) each head's input-dependent write into the stream, (z_h − c_h) W_O,h with
    c the value constant; c W_O goes to the layer's bias, as TransformerLens's fold_ln + fold_value_biases do."""
    W_O = model.block_weights(layer).attn.W_O.float().cpu()  # (H, D, C)
    const = value_constant(model, layer)
    z = z.float() if const is None else z.float() - const
    return torch.einsum("hd,hdc->hc", z, W_O)


def logit_attribution(model, prompt, answer, wrong) -> LogitAttribution:
    """Every part's and every head's direct contribution to logit[answer] − logit[wrong] at the last position."""
    require_lm(model)
    ids = prompt_ids(model, prompt)
    a, b = token_id(model, answer, "The answer"), token_id(model, wrong, "The wrong answer")
    logits, rec = _record(model, ids)
    L, norm = model.num_layers, model.final_norm_weights()
    u = logit_direction(model, a, b)  # (C,)
    final = rec[f"blocks.{L - 1}.hook_resid_post"][0, -1]  # (C,) the final norm's input
    parts, labels = [rec["blocks.0.hook_resid_pre"][0, -1]], ["embed"]
    heads, bias = [], []
    for i in range(L):
        pre, mid, post = (rec[f"blocks.{i}.hook_resid_{s}"][0, -1] for s in ("pre", "mid", "post"))
        parts += [mid - pre, post - mid]
        labels += [f"L{i} attn", f"L{i} mlp"]
        outs = head_outputs(model, rec[f"blocks.{i}.attn.hook_z"][0, :, -1], i)  # (H, C)
        heads.append(outs)
        bias.append((mid - pre).float() - outs.sum(0))  # (C,) b_O + Σ_h c_h W_O,h (and any rounding)
    stack = torch.cat([torch.stack(parts).float(), torch.cat(heads), torch.stack(bias)])  # (2L+1 + L·H + L, C)
    contrib = apply_frozen_norm(stack, final, norm) @ u  # (K,)
    n = 2 * L + 1
    diff = float(logits[a] - logits[b])
    return LogitAttribution(
        labels,
        contrib[:n],
        contrib[n : n + L * model.num_heads].reshape(L, model.num_heads),  # (L·H,) → (L, H)
        contrib[n + L * model.num_heads :],
        diff,
        diff - float(contrib[:n].sum()),
        float(_final_scale(final, norm)) if norm is not None else 1.0,
        a,
        b,
    )


def direct_logit_attribution(model, prompt, answer, wrong) -> torch.Tensor:
    """(L, H): each head's output at the last position, through the final norm's frozen scale, onto
    W_U[answer] − W_U[wrong] (TransformerLens: stack_head_results + logit_attrs, compatibility mode)."""
    return logit_attribution(model, prompt, answer, wrong).heads


@dataclass(frozen=True)
class HeadView:
    pattern: torch.Tensor  # (N, N) the head's attention probabilities
    promoted: list[tuple[int, float]]  # (token id, logit contribution), largest first
    suppressed: list[tuple[int, float]]  # most negative first
    dla: float  # the head's direct contribution to the logit difference


def head_view(model, prompt, layer: int, head: int, answer, wrong, k: int = 10) -> HeadView:
    """One head: its attention pattern, and the tokens its last-position output pushes up / down through the
    frozen final norm and the whole unembedding (mean over the vocabulary removed, so signs read as ±)."""
    require_lm(model)
    ids = prompt_ids(model, prompt)
    a, b = token_id(model, answer, "The answer"), token_id(model, wrong, "The wrong answer")
    _, rec = _record(model, ids, (f"blocks.{layer}.attn.hook_probs",))
    norm = model.final_norm_weights()
    out = head_outputs(model, rec[f"blocks.{layer}.attn.hook_z"][0, :, -1], layer)[head]  # (C,)
    final = rec[f"blocks.{model.num_layers - 1}.hook_resid_post"][0, -1]
    x = apply_frozen_norm(out[None], final, norm)[0]  # (C,)
    w = norm.weight.float().cpu() if norm is not None else torch.ones_like(x)
    logits = (x * w) @ model.unembedding_weights().float().cpu()  # (V,)
    logits = logits - logits.mean()
    top, bot = logits.topk(k), logits.topk(k, largest=False)
    return HeadView(
        rec[f"blocks.{layer}.attn.hook_probs"][0, head].float(),
        list(zip(top.indices.tolist(), top.values.tolist())),
        list(zip(bot.indices.tolist(), bot.values.tolist())),
        float(logits[a] - logits[b]),
    )
