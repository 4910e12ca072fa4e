"""Self-attention step by step on a real BERT-family encoder (MiniLM): every intermediate from the token ids to
the block output, computed here from the model's weight matrices with plain torch ops, and checked against the
tensors the model's hook points recorded in the same forward (`Step.diff`).

Equations follow Vaswani et al. 2017 (§3.2: Attention(Q, K, V) = softmax(QKᵀ/√d_k)·V, multi-head = Concat(head_i)
·W_O) with BERT's post-LN block (Devlin et al. 2019; x = LN(x + Attn(x)), x = LN(x + FFN(x))). Row vectors: x·W
with W = nn.Linear.weight.T, shape (C_in, C_out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from xviz.errors import InputError
from xviz.hooks import record
from xviz.layers.attention import masked_fill_value


@dataclass
class Step:
    key: str
    title: str
    equation: str
    value: torch.Tensor  # what is drawn: (rows, cols)
    shape: str  # the tensor's shape in words, e.g. "(N, C) = (9, 384)"
    rows: list[str]  # row labels (tokens)
    cols: list[str] | None = None  # column labels (None: index)
    hook: str | None = None  # the recorded tensor this step equals
    diff: float | None = None  # max |computed − recorded|
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # companions shown on hover, same shape
    weight: torch.Tensor | None = None  # the weight matrix of this step, (C_in, C_out)
    weight_name: str = ""
    note: str = ""
    signed: bool = True


@dataclass
class StepRun:
    steps: list[Step]
    tokens: list[str]
    layer: int
    head: int
    head_dim: int
    truncated: bool  # cut to step_limit(model) tokens
    recording: object  # the Recording (all hooks of this forward)
    block_out: torch.Tensor  # (N, C) computed output of the chosen block
    group: int = 1  # query heads per K/V head (grouped-query attention; 1 = plain MHA)


def shape_label(names: str, t: torch.Tensor) -> str:
    return f"({names}) = ({', '.join(str(s) for s in t.shape)})"


def verified(step: Step, rec, name: str, recorded: torch.Tensor) -> Step:
    step.hook = name
    step.diff = float((step.value.float() - recorded.float()).abs().max())
    return step


STEP_BYTES = 2**30  # what the N × N steps of one run may take together


def step_limit(model) -> int:
    """The longest input step by step shows: the model's positions, capped by a memory estimate — about 12 maps
    of N × N float32 (scores, probabilities and their companions) plus one per head for the outputs."""
    per_pair = 4 * (12 + model.num_heads)
    n = int((STEP_BYTES / per_pair) ** 0.5)
    return max(16, min(n, model.max_positions or n))


def prepare_input(model, text, pad: int = 0):
    """Text (or a (text_a, text_b) pair) → batch of one, with `pad` [PAD] tokens appended (attention_mask 0) so
    the mask step has something to do. Empty text raises InputError."""
    if not isinstance(pad, int) or not 0 <= pad <= 16:
        raise InputError("Padding must be a whole number of tokens between 0 and 16.")
    batch = model.prepare(text, max_length=min(step_limit(model), model.cfg.max_positions) - pad)
    if pad:
        pid = model.cfg.pad_token_id
        ids, am, tt = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
        batch["input_ids"] = torch.cat([ids, torch.full((1, pad), pid, dtype=ids.dtype, device=ids.device)], 1)
        batch["attention_mask"] = torch.cat([am, torch.zeros((1, pad), dtype=am.dtype, device=am.device)], 1)
        batch["token_type_ids"] = torch.cat([tt, torch.zeros((1, pad), dtype=tt.dtype, device=tt.device)], 1)
        batch.tokens = [batch.tokens[0] + ["[PAD]"] * pad]
    return batch


def embedding_steps(
    model, ids: torch.Tensor, types: torch.Tensor, toks: list[str], rec
) -> tuple[list[Step], torch.Tensor]:
    """ids, types (N,) → [word, position, segment, sum, LayerNorm] and x0 (N, C) (BERT §3.2, Figure 2)."""
    e = model.embed
    N = ids.shape[0]
    word, pos, seg = e.word.weight[ids], e.position.weight[:N], e.token_type.weight[types]  # (N, C) each
    s = word + pos + seg
    x0 = F.layer_norm(s, s.shape[-1:], e.norm.weight, e.norm.bias, e.norm.eps)
    dims = None
    # a table, one row per operation: kept as written
    # fmt: off
    steps = [
        Step("tok", "Token embeddings", "E_tok[id_i]", word, shape_label("N, C", word), toks, dims,
             note="Row i is the row of the vocabulary table for token i's id."),
        Step("pos", "Position embeddings", "E_pos[i]  (learned, one row per position 0…N−1)", pos,
             shape_label("N, C", pos), toks),
        Step("seg", "Segment embeddings", "E_seg[segment_i]  (0: first sentence, 1: second)", seg,
             shape_label("N, C", seg), toks),
        Step("sum", "Sum", "e_i = E_tok[id_i] + E_pos[i] + E_seg[segment_i]", s, shape_label("N, C", s), toks),
        Step("emb_ln", "Embedding LayerNorm", "x_i = γ ⊙ (e_i − mean(e_i)) / √(var(e_i) + ε) + β", x0,
             shape_label("N, C", x0), toks),
    ]
    # fmt: on
    verified(steps[-1], rec, "hook_embed", rec["hook_embed"][0])
    return steps, x0


def attention_steps(
    blk, x: torch.Tensor, key_ok: torch.Tensor, head: int, toks: list[str], L: int, rec
) -> tuple[list[Step], torch.Tensor]:
    """x (N, C) → the attention sub-layer of block L, one step per operation; returns the steps and LN1 output."""
    t = _attention_tensors(blk, x, key_ok, head)
    return _projection_steps(t, head, toks, L, rec) + _core_steps(t, head, toks, L, rec), t.y


def _attention_tensors(blk, x: torch.Tensor, key_ok: torch.Tensor, head: int) -> SimpleNamespace:
    """Every tensor of the attention sub-layer, from the weights (Vaswani et al. §3.2.1–3.2.2)."""
    a = blk.attn
    H, D = a.num_heads, a.head_dim
    N, C = x.shape
    Wq, Wk, Wv, Wo = (m.weight.T for m in (a.q_proj, a.k_proj, a.v_proj, a.out_proj))  # (C_in, C_out)
    q, k, v = x @ Wq + a.q_proj.bias, x @ Wk + a.k_proj.bias, x @ Wv + a.v_proj.bias  # (N, C)
    qh, kh, vh = (t.view(N, H, D).transpose(0, 1) for t in (q, k, v))  # (N, C) -> (H, N, D)
    raw = qh[head] @ kh[head].T  # (N, N)
    scaled = raw / math.sqrt(D)
    mask = key_ok[None, :].expand(N, N)  # (Nq, Nk), True = may attend
    masked = scaled.masked_fill(~mask, masked_fill_value(scaled.dtype))
    probs = masked.softmax(-1)
    zh = probs @ vh[head]  # (N, D)
    z_all = torch.stack([(_head_probs(qh[i], kh[i], mask, D)) @ vh[i] for i in range(H)])  # (H, N, D)
    concat = z_all.transpose(0, 1).reshape(N, H * D)  # (H, N, D) -> (N, C)
    attn_out = concat @ Wo + a.out_proj.bias
    resid = x + attn_out
    n1 = blk.norm1
    y = F.layer_norm(resid, (C,), n1.weight, n1.bias, n1.eps)
    return SimpleNamespace(
        x=x,
        q=q,
        k=k,
        v=v,
        qh=qh,
        raw=raw,
        scaled=scaled,
        masked=masked,
        probs=probs,
        zh=zh,
        concat=concat,
        attn_out=attn_out,
        resid=resid,
        y=y,
        Wq=Wq,
        Wk=Wk,
        Wv=Wv,
        Wo=Wo,
        H=H,
        D=D,
        N=N,
        C=C,
        key_ok=key_ok,
    )


def _labels(t: SimpleNamespace, L: int) -> tuple[str, list[str], list[str]]:
    return f"blocks.{L}", [f"d{j}" for j in range(t.D)], [f"h{h}·d{j}" for h in range(t.H) for j in range(t.D)]


def _projection_steps(t: SimpleNamespace, head: int, toks: list[str], L: int, rec) -> list[Step]:
    x, q, k, v, qh, Wq, Wk, Wv, H, D, N, C = (t.x, t.q, t.k, t.v, t.qh, t.Wq, t.Wk, t.Wv, t.H, t.D, t.N, t.C)
    p, hd, cols_h = _labels(t, L)
    sl = f"columns {head * D}…{head * D + D - 1}"
    # a table, one row per operation: kept as written
    # fmt: off
    return [
        verified(Step("x", f"Input of block {L}", "x (N × C): one row per token", x, shape_label("N, C", x), toks,
                    note="Block 0 gets the embeddings; block L gets block L−1's output, computed here by the same "
                         "formulas."), rec, f"{p}.hook_resid_pre", rec[f"{p}.hook_resid_pre"][0]),
        verified(Step("q", "Queries Q = x·W_Q + b_Q", "Q = x·W_Q + b_Q,  W_Q: C × C", q, shape_label("N, C", q), toks,
                    cols_h, weight=Wq, weight_name="W_Q"), rec, f"{p}.attn.hook_q", _merge(rec[f"{p}.attn.hook_q"])),
        verified(Step("k", "Keys K = x·W_K + b_K", "K = x·W_K + b_K", k, shape_label("N, C", k), toks, cols_h,
                      weight=Wk, weight_name="W_K"), rec, f"{p}.attn.hook_k", _merge(rec[f"{p}.attn.hook_k"])),
        verified(Step("v", "Values V = x·W_V + b_V", "V = x·W_V + b_V", v, shape_label("N, C", v), toks, cols_h,
                      weight=Wv, weight_name="W_V"), rec, f"{p}.attn.hook_v", _merge(rec[f"{p}.attn.hook_v"])),
        verified(Step("split", f"Split into {H} heads; head {head}'s slice",
                    f"Q (N × C) → (H × N × D), D = C / H = {D};  q_{head} = Q[:, {sl.split()[1]}]", qh[head],
                    f"(N, C) = ({N}, {C}) → (H, N, D) = ({H}, {N}, {D}); q_h: (N, D) = ({N}, {D})", toks, hd,
                    note=f"Head {head} is {sl} of Q (and of K, V): a reshape, no arithmetic."),
               rec, f"{p}.attn.hook_q", rec[f"{p}.attn.hook_q"][0, head]),
    ]
    # fmt: on


def _core_steps(t: SimpleNamespace, head: int, toks: list[str], L: int, rec) -> list[Step]:
    raw, scaled, masked, probs, zh, concat = t.raw, t.scaled, t.masked, t.probs, t.zh, t.concat
    attn_out, resid, y, Wo, D, key_ok = t.attn_out, t.resid, t.y, t.Wo, t.D, t.key_ok
    p, hd, cols_h = _labels(t, L)
    # a table, one row per operation: kept as written
    # fmt: off
    return [
        Step("qk", "Scores q·kᵀ", "S_ij = q_i · k_j = Σ_d q_id k_jd", raw, shape_label("Nq, Nk", raw), toks, toks,
             note="Row i: how well token i's query matches every key."),
        Step("scale", "÷ √D", f"S_ij / √D = S_ij / √{D} = S_ij / {math.sqrt(D):.3f}", scaled,
             shape_label("Nq, Nk", scaled), toks, toks, extra={"q·k": raw},
             note="Keeps the scores' variance near 1 whatever D (see “Why √D” below)."),
        verified(Step("mask", "Mask", "S_ij ← −∞ where key j may not be attended (padding)", masked,
                    shape_label("Nq, Nk", masked), toks, toks, extra={"before mask": scaled},
                    note=f"{int((~key_ok).sum())} padded key(s) masked; BERT has no causal mask."),
               rec, f"{p}.attn.hook_scores", rec[f"{p}.attn.hook_scores"][0, head]),
        verified(Step("softmax", "Softmax over keys", "A_ij = exp(S_ij) / Σ_k exp(S_ik)", probs, shape_label("Nq, Nk",
                      probs),
                    toks, toks, extra={"score": masked, "exp(score − max)": (masked - masked.amax(-1, True)).exp()},
                    signed=False, note="Each row sums to 1."),
               rec, f"{p}.attn.hook_probs", rec[f"{p}.attn.hook_probs"][0, head]),
        verified(Step("av", "Weighted values A·V", f"z_{head} = A·v_{head}:  z_i = Σ_j A_ij v_j", zh,
                      shape_label("N, D", zh),
                    toks, hd), rec, f"{p}.attn.hook_z", rec[f"{p}.attn.hook_z"][0, head]),
        verified(Step("concat", "Concatenate the heads", "Concat(z_0, …, z_{H−1}): (H, N, D) → (N, H·D)", concat,
                    shape_label("N, H·D", concat), toks, cols_h), rec, f"{p}.attn.hook_z",
                    _merge(rec[f"{p}.attn.hook_z"])),
        verified(Step("wo", "Output projection ·W_O", "o = Concat(z)·W_O + b_O", attn_out, shape_label("N, C",
                      attn_out),
                    toks, weight=Wo, weight_name="W_O"), rec, f"{p}.hook_attn_out", rec[f"{p}.hook_attn_out"][0]),
        verified(Step("res1", "Residual add", "r = x + o", resid, shape_label("N, C", resid), toks),
               rec, f"{p}.norm1.hook_in", rec[f"{p}.norm1.hook_in"][0]),
        verified(Step("ln1", "LayerNorm (post-LN)", "y = LN(x + o)", y, shape_label("N, C", y), toks),
               rec, f"{p}.norm1.hook_out", rec[f"{p}.norm1.hook_out"][0]),
    ]
    # fmt: on


def _head_probs(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, D: int) -> torch.Tensor:
    s = (q @ k.T / math.sqrt(D)).masked_fill(~mask, masked_fill_value(q.dtype))  # (N, N)
    return s.softmax(-1)


def _merge(t: torch.Tensor) -> torch.Tensor:
    _, H, N, D = t.shape
    return t[0].transpose(0, 1).reshape(N, H * D)  # (1, H, N, D) -> (N, H·D)


def ffn_steps(blk, y: torch.Tensor, toks: list[str], L: int, rec) -> tuple[list[Step], torch.Tensor]:
    """y (N, C) → FFN, residual, LayerNorm: out = LN(y + W2·act(W1·y + b1) + b2)."""
    m, n2, p = blk.mlp, blk.norm2, f"blocks.{L}"
    W1, W2 = m.fc1.weight.T, m.fc2.weight.T  # (C, 4C), (4C, C)
    hidden = m.act(y @ W1 + m.fc1.bias)  # (N, 4C)
    f = hidden @ W2 + m.fc2.bias  # (N, C)
    resid = y + f
    out = F.layer_norm(resid, resid.shape[-1:], n2.weight, n2.bias, n2.eps)
    # a table, one row per operation: kept as written
    # fmt: off
    steps = [
        verified(Step("ffn1", "FFN hidden layer", "h = GELU(y·W_1 + b_1),  W_1: C × 4C", hidden, shape_label("N, 4C",
                      hidden),
                    toks, weight=W1, weight_name="W_1"), rec, f"{p}.mlp.hook_hidden", rec[f"{p}.mlp.hook_hidden"][0]),
        verified(Step("ffn2", "FFN output", "f = h·W_2 + b_2,  W_2: 4C × C", f, shape_label("N, C", f), toks, weight=W2,
                    weight_name="W_2"), rec, f"{p}.hook_mlp_out", rec[f"{p}.hook_mlp_out"][0]),
        verified(Step("res2", "Residual add", "y + f", resid, shape_label("N, C", resid), toks),
               rec, f"{p}.norm2.hook_in", rec[f"{p}.norm2.hook_in"][0]),
        verified(Step("out", f"LayerNorm → output of block {L}", "out = LN(y + f)", out, shape_label("N, C", out),
                      toks),
               rec, f"{p}.hook_resid_post", rec[f"{p}.hook_resid_post"][0]),
    ]
    # fmt: on
    return steps, out


def is_bert_encoder(model) -> bool:
    """The encoder walk-through reads BERT weights by their xviz names: xviz's own text encoder only."""
    return model.backend == "xviz" and model.kind == "text"


@torch.no_grad()
def run_steps(model, text, layer: int = 0, head: int = 0, pad: int = 0) -> StepRun:
    """The chosen layer and head of a BERT-family xviz TextEncoder on `text`, step by step (see module doc)."""
    if not is_bert_encoder(model):
        raise InputError("Step by step needs a BERT-family text encoder (e.g. minilm-l6).")
    if not (0 <= layer < model.num_layers and 0 <= head < model.num_heads):
        raise InputError(f"Layer must be 0…{model.num_layers - 1} and head 0…{model.num_heads - 1}.")
    batch = prepare_input(model, text, pad)
    with record(model, names=["hook_embed"] + [f"blocks.{i}.*" for i in range(layer + 1)]) as rec:
        model(**batch)
    ids, types = batch["input_ids"][0], batch["token_type_ids"][0]
    key_ok = batch["attention_mask"][0].bool()
    toks = [f"{i}:{t}" for i, t in enumerate(batch.tokens[0])]
    steps, x = embedding_steps(model, ids, types, toks, rec)
    for i in range(layer):  # earlier blocks, by the same formulas (their steps are not shown)
        x = ffn_steps(
            model.blocks[i], attention_steps(model.blocks[i], x, key_ok, head, toks, i, rec)[1], toks, i, rec
        )[1]
    att, y = attention_steps(model.blocks[layer], x, key_ok, head, toks, layer, rec)
    ffn, out = ffn_steps(model.blocks[layer], y, toks, layer, rec)
    return StepRun(
        steps + att + ffn, batch.tokens[0], layer, head, model.blocks[layer].attn.head_dim, batch.truncated, rec, out
    )
