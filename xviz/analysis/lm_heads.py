"""Per layer × head scores of a causal LM's attention, and per-head ablation effects (the IOI preset).

Every score is the mean, over the queries i that have at least one "target" key, of the attention mass on the
targets: score = mean_{i: M_i ≠ ∅} Σ_{j ∈ M_i} A[i, j]  (Olsson et al. 2022):
- induction: j < i with ids[j−1] = ids[i] (the token after an earlier occurrence of the current token); on a random
  sequence repeated twice this is the key at offset copy_len − 1 for every query of the second copy;
- previous-token: j = i − 1;  duplicate-token: j < i with ids[j] = ids[i];
- first-token sink (Xiao et al. 2023): j = 0, for queries i ≥ 1.
IOI (Wang et al. 2022): logit difference logit(" Mary") − logit(" John") at the last position, and how much it
moves when one head's z is ablated (zero, or its mean over positions).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

import xviz

IOI_PROMPT = "When Mary and John went to the store, John gave a drink to"
IOI_ANSWERS = (" Mary", " John")
SCORES = ("induction", "previous-token", "duplicate-token", "first-token sink")


# ---- target masks (N, N), True = a target key j of query i ---------------------------------------------------
def previous_mask(n: int) -> torch.Tensor:
    return torch.ones(n, n, dtype=torch.bool).tril(-1).triu(-1)  # j = i − 1


def first_mask(n: int) -> torch.Tensor:
    m = torch.zeros(n, n, dtype=torch.bool)
    m[1:, 0] = True  # j = 0, i ≥ 1
    return m


def duplicate_mask(ids: torch.Tensor) -> torch.Tensor:
    ids = ids.reshape(-1)
    same = ids[:, None] == ids[None, :]  # (N, N) ids[i] == ids[j]
    return same & torch.ones_like(same).tril(-1)  # j < i


def induction_mask(ids: torch.Tensor) -> torch.Tensor:
    ids = ids.reshape(-1)
    n = ids.numel()
    m = torch.zeros(n, n, dtype=torch.bool)
    m[:, 1:] = ids[:, None] == ids[None, :-1]  # ids[j−1] == ids[i]
    return m & torch.ones_like(m).tril(-1)  # j < i


def masks(ids: torch.Tensor) -> dict[str, torch.Tensor]:
    n = ids.numel()
    return {
        "induction": induction_mask(ids),
        "previous-token": previous_mask(n),
        "duplicate-token": duplicate_mask(ids),
        "first-token sink": first_mask(n),
    }


def mask_score(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """probs (…, N, N), mask (N, N) → (…) mean over queries with a target of the mass on their targets."""
    rows = mask.any(-1)  # (N,) queries that have a target
    if not rows.any():
        return torch.full(probs.shape[:-2], float("nan"))
    mass = (probs.float() * mask).sum(-1)  # (…, N)
    return mass[..., rows].mean(-1)


# ---- inputs and recording --------------------------------------------------------------------------------------
def repeated_random(copy_len: int, low: int, high: int, seed: int = 0, prefix: list[int] | None = None) -> torch.Tensor:
    """[prefix] + r + r with r = copy_len random ids in [low, high) (seeded generator). (N,) long."""
    g = torch.Generator().manual_seed(int(seed))
    r = torch.randint(low, high, (copy_len,), generator=g)
    return torch.cat([torch.tensor(prefix or [], dtype=torch.long), r, r])


@torch.no_grad()
def attention(model, ids: torch.Tensor) -> torch.Tensor:
    """All layers' attention probabilities on one sequence: (L, H, N, N) float32 on the CPU."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(1, -1).to(model.device)
    with xviz.record(model, names="blocks.*.attn.hook_probs") as rec:
        model(input_ids=ids, logits_to_keep=1)
    return rec.stack("probs")[:, 0].float()  # (L, H, N, N)


def head_scores(probs: torch.Tensor, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """probs (L, H, N, N), ids (N,) → {score name: (L, H)}."""
    return {name: mask_score(probs, m) for name, m in masks(ids.reshape(-1).cpu()).items()}


@torch.no_grad()
def model_head_scores(model, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """head_scores of the model's own attention on `ids`, with attention kept on demand and streamed in row blocks
    (lazy_attention.py): no (L, H, N, N) tensor is ever built — 4k tokens of SmolLM2 would be 18 GiB."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    ms = masks(ids)
    with xviz.record(model, names="blocks.*.attn.hook_probs", attention="lazy") as rec:
        model(input_ids=ids[None].to(model.device), logits_to_keep=1)
    per_layer = [streamed_mask_scores(rec.source(("probs", i)), ms) for i in range(model.num_layers)]
    return {name: torch.stack([s[name] for s in per_layer]) for name in ms}


def streamed_mask_scores(src, ms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mask_score of one layer's heads for every mask, row block by row block: {name: (H,)}."""
    mass: dict[str, list[torch.Tensor]] = {name: [] for name in ms}
    for rows, p in src.blocks("probs"):
        pc = p[0].float().cpu()  # (H, r, N)
        for name, m in ms.items():
            mass[name].append((pc * m[rows]).sum(-1))  # (H, r)
    out = {}
    for name, m in ms.items():
        targets = m.any(-1)  # (N,) queries that have a target
        full = torch.cat(mass[name], dim=-1)  # (H, N)
        out[name] = full[:, targets].mean(-1) if targets.any() else torch.full(full.shape[:1], float("nan"))
    return out


# ---- per-head ablation effects ---------------------------------------------------------------------------------
def _one_head_per_row(mode: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """z (H, H, N, D) → row b has head b ablated (zero, or its mean over positions)."""

    def edit(z: torch.Tensor) -> torch.Tensor:
        z = z.clone()
        h = torch.arange(z.shape[1])
        if mode == "zero":
            z[h, h] = 0.0
        else:
            z[h, h] = z[h, h].mean(dim=1, keepdim=True).expand_as(z[h, h])  # (H, N, D) mean over N
        return z

    return edit


def logit_diff(logits: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """logit[a] − logit[b] on (…, V)."""
    return logits[..., a] - logits[..., b]


@torch.no_grad()
def ablation_effects(
    model, ids: torch.Tensor, a: int, b: int, mode: str = "zero", progress: Callable[[float, str], None] | None = None
) -> tuple[float, torch.Tensor]:
    """Clean logit difference, and its change (ablated − clean) per head (L, H): one batch of H rows per layer,
    row h with head h ablated."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(1, -1).to(model.device)
    L, H = model.num_layers, model.num_heads
    with xviz.record(model, names=[]):
        clean = float(logit_diff(model(input_ids=ids, logits_to_keep=1).logits[0, -1].float(), a, b))
    batch = ids.expand(H, -1)  # (H, N)
    out = torch.zeros(L, H)
    for layer in range(L):
        if progress:
            progress(layer / L, f"Ablating the heads of layer {layer}")
        edits = {f"blocks.{layer}.attn.hook_z": _one_head_per_row(mode)}
        with xviz.record(model, names=[], edits=edits):
            logits = model(input_ids=batch, logits_to_keep=1).logits[:, -1].float().cpu()  # (H, V)
        out[layer] = logit_diff(logits, a, b) - clean
    return clean, out
