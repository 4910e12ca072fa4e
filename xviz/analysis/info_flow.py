"""Information flow routes (Ferrando & Voita 2024, the LLM Transparency Tool): which positions and blocks the
prediction at the last position draws on.

Layer l's attention writes into query i the sum over sources j of c_ij = Σ_h A_h[i, j] · v_h[j] W_O,h (plus
b_O), so resid_mid[i] = resid_pre[i] + Σ_j c_ij + b_O, and resid_post[i] = resid_mid[i] + mlp[i]. Each part x_k
of such a sum y gets an importance by proximity (the paper's eq. 2, L1 norms):

    prox(x_k, y) = max(‖y‖₁ − ‖y − x_k‖₁, 0),   importance_k = prox_k / Σ_k' prox_k'

(the parts of one sum: the residual and the sources j for attention; the residual and the MLP for the MLP). The
raw norm ‖c_ij‖₂ is kept too. The graph keeps the edges above a threshold that lead, backwards, to the last
position's final stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import xviz
from xviz.analysis.circuit_inputs import prompt_ids, require_lm
from xviz.errors import ResourceError

MAX_TOKENS = 256
CHUNK_FLOATS = 2**22  # (queries × sources × C) per step of the importance computation
TOKEN_EDGES = 400  # edges (largest first) whose top tokens are computed


@dataclass(frozen=True)
class InfoFlow:
    ids: list[int]
    attn: torch.Tensor  # (L, N, N) importance of source j in query i's resid_mid (0 above the diagonal)
    attn_res: torch.Tensor  # (L, N) importance of resid_pre[i] itself
    mlp: torch.Tensor  # (L, N) importance of the MLP output in resid_post[i]
    mlp_res: torch.Tensor  # (L, N) importance of resid_mid[i]
    norms: torch.Tensor  # (L, N, N) ‖c_ij‖₂
    top_head: torch.Tensor  # (L, N, N) long: the head with the largest ‖A_h[i, j] v_h[j] W_O,h‖
    head_share: torch.Tensor  # (L, N, N) that head's share of Σ_h ‖A_h[i, j] v_h[j] W_O,h‖
    edge_tokens: dict  # ("attn", l, i, j) | ("mlp", l, i) → top token ids the edge's vector promotes


def proximity(parts: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """parts (…, K, C), their sum y (…, C) → (…, K) importances (Ferrando & Voita 2024, eq. 2), rows sum to 1."""
    y1 = y.abs().sum(-1, keepdim=True)  # (…, 1)
    prox = (y1 - (y[..., None, :] - parts).abs().sum(-1)).clamp_min(0)  # (…, K)
    return prox / prox.sum(-1, keepdim=True).clamp_min(1e-12)


def _value_out(model, layer: int, v: torch.Tensor) -> torch.Tensor:
    """v (Hkv, N, D) → (H, N, C) each head's value vectors written through W_O,h."""
    W_O = model.block_weights(layer).attn.W_O.float().cpu()  # (H, D, C)
    v = v.float().repeat_interleave(W_O.shape[0] // v.shape[0], 0)  # (Hkv, N, D) → (H, N, D)
    return torch.einsum("hnd,hdc->hnc", v, W_O)


def _attention_layer(A: torch.Tensor, vo: torch.Tensor, pre: torch.Tensor, bias: torch.Tensor):
    """A (H, N, N), vo (H, N, C), pre (N, C), bias (C,) → importances (N, N), residual's (N,), norms (N, N)."""
    H, N, C = vo.shape
    imp, res, norms = torch.zeros(N, N), torch.zeros(N), torch.zeros(N, N)
    step = max(1, CHUNK_FLOATS // max(N * C, 1))
    for s in range(0, N, step):
        q = slice(s, min(N, s + step))
        c = torch.einsum("hij,hjc->ijc", A[:, q], vo)  # (n, N, C) source j's write into query i
        y = pre[q] + c.sum(1) + bias  # (n, C) = resid_mid
        parts = torch.cat([pre[q, None], c], 1)  # (n, 1 + N, C): the residual, then every source
        w = proximity(parts, y)  # (n, 1 + N)
        res[q], imp[q] = w[:, 0], w[:, 1:]
        norms[q] = c.norm(dim=-1)
    causal = torch.ones(N, N).tril()
    return imp * causal, res, norms * causal


def _top_heads(A: torch.Tensor, vo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per edge, the head with the largest ‖A_h[i, j] v_h[j] W_O,h‖ = A_h[i, j] ‖v_h[j] W_O,h‖, and its share."""
    per_head = A * vo.norm(dim=-1)[:, None, :]  # (H, N, N): (H, N, N) × (H, 1, N)
    best = per_head.max(0)
    return best.indices, best.values / per_head.sum(0).clamp_min(1e-12)


def information_flow(model, prompt, progress=None) -> InfoFlow:
    """Importances of every attention source and MLP for every position and layer, on one prompt."""
    require_lm(model)
    ids = prompt_ids(model, prompt)
    L, N = model.num_layers, ids.numel()
    if N > MAX_TOKENS:
        raise ResourceError(f"The information-flow graph takes at most {MAX_TOKENS} tokens; this prompt has {N}.")
    names = [f"blocks.{i}.{h}" for i in range(L) for h in ("attn.hook_probs", "attn.hook_v")]
    names += [f"blocks.{i}.hook_resid_{s}" for i in range(L) for s in ("pre", "mid", "post")]
    with torch.no_grad(), xviz.record(model, names=names) as rec:
        model(input_ids=ids[None].to(model.device), logits_to_keep=1, use_cache=False)
    out = {k: [] for k in ("attn", "attn_res", "mlp", "mlp_res", "norms", "top", "share")}
    vos = []
    for i in range(L):
        if progress:
            progress(i / L, f"Layer {i}: splitting the attention output by source position")
        A = rec[f"blocks.{i}.attn.hook_probs"][0].float()  # (H, N, N)
        vo = _value_out(model, i, rec[f"blocks.{i}.attn.hook_v"][0])  # (H, N, C)
        pre, mid, post = (rec[f"blocks.{i}.hook_resid_{s}"][0].float() for s in ("pre", "mid", "post"))
        b_O = model.block_weights(i).attn.b_O
        bias = b_O.float().cpu() if b_O is not None else torch.zeros(pre.shape[-1])
        imp, res, norms = _attention_layer(A, vo, pre, bias)
        w = proximity(torch.stack([mid, post - mid], 1), post)  # (N, 2): resid_mid, then the MLP
        top, share = _top_heads(A, vo)
        for k, v in zip(out, (imp, res, w[:, 1], w[:, 0], norms, top, share)):
            out[k].append(v)
        vos.append((A, vo, post - mid))
    stacked = {k: torch.stack(v) for k, v in out.items()}
    return InfoFlow(
        ids.tolist(),
        stacked["attn"],
        stacked["attn_res"],
        stacked["mlp"],
        stacked["mlp_res"],
        stacked["norms"],
        stacked["top"],
        stacked["share"],
        _edge_tokens(model, stacked["attn"], stacked["mlp"], vos),
    )


def _edge_tokens(model, attn: torch.Tensor, mlp: torch.Tensor, vos, k: int = 3) -> dict:
    """Top-k tokens that the largest edges' vectors promote through the final norm's weight and W_U."""
    keys, vecs = [], []
    flat = torch.cat([attn.flatten(), mlp.flatten()])
    for f in flat.argsort(descending=True)[: min(TOKEN_EDGES, int((flat > 0).sum()))].tolist():
        if f < attn.numel():
            layer, i, j = (int(x) for x in torch.unravel_index(torch.tensor(f), attn.shape))
            A, vo, _ = vos[layer]
            keys.append(("attn", layer, i, j))
            vecs.append((A[:, i, j, None] * vo[:, j]).sum(0))  # (C,) c_ij
        else:
            layer, i = (int(x) for x in torch.unravel_index(torch.tensor(f - attn.numel()), mlp.shape))
            keys.append(("mlp", layer, i))
            vecs.append(vos[layer][2][i])  # (C,) the MLP's output
    if not vecs:
        return {}
    norm = model.final_norm_weights()
    x = torch.stack(vecs)  # (E, C)
    if norm is not None:
        x = (x - x.mean(-1, keepdim=True) if norm.kind == "layer" else x) * norm.weight.float().cpu()
    top = (x @ model.unembedding_weights().float().cpu()).topk(k, dim=-1).indices  # (E, V) → (E, k)
    return dict(zip(keys, top.tolist()))


# ---- the graph --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Edge:
    kind: str  # "attn" (source j → query i), "res" (residual skip), "mlp" (through the MLP)
    layer: int
    src: tuple[str, int, int]  # ("pre" | "mid", layer, position)
    dst: tuple[str, int, int]
    weight: float


def flow_graph(flow: InfoFlow, threshold: float, target: int = -1) -> list[Edge]:
    """The edges of importance ≥ threshold that reach, backwards, the final stream at `target` (default: last
    position): nodes ("pre", l, i) = resid_pre of layer l (l = L: the final stream), ("mid", l, i) = resid_mid."""
    L, N = flow.attn.shape[0], flow.attn.shape[1]
    keep_pre, edges = {target % N}, []
    for layer in range(L - 1, -1, -1):
        keep_mid = set()
        for i in sorted(keep_pre):
            dst = ("pre", layer + 1, i)
            for kind, w in (("mlp", flow.mlp[layer, i]), ("res", flow.mlp_res[layer, i])):
                if float(w) >= threshold:
                    edges.append(Edge(kind, layer, ("mid", layer, i), dst, float(w)))
                    keep_mid.add(i)
        keep_pre = set()
        for i in sorted(keep_mid):
            dst = ("mid", layer, i)
            if float(flow.attn_res[layer, i]) >= threshold:
                edges.append(Edge("res", layer, ("pre", layer, i), dst, float(flow.attn_res[layer, i])))
                keep_pre.add(i)
            for j in range(i + 1):
                if float(flow.attn[layer, i, j]) >= threshold:
                    edges.append(Edge("attn", layer, ("pre", layer, j), dst, float(flow.attn[layer, i, j])))
                    keep_pre.add(j)
    return edges
