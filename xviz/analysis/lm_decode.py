"""Step-by-step decoding of a causal LM with a KV cache: greedy, temperature, top-k, top-p sampling.

Filters (Holtzman et al. 2020 for top-p; applied in transformers' order: temperature → top-k → top-p):
- temperature: logits / T;
- top-k: keep the k largest logits, the rest −inf;
- top-p (nucleus, Holtzman et al. 2020): keep the smallest set of tokens, by descending probability, whose
  cumulative probability reaches p (a token is kept when the mass strictly before it is < p), renormalise.
Sampling draws from softmax(filtered) with `torch.multinomial(…, generator=g)`: a seeded torch.Generator, never
the global RNG. KV cache: the prompt runs once (prefill); each later step feeds only the new token, whose k, v
are appended to every layer's cache, (B, Hkv, t, D). Each step records the new query's attention row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

import xviz

MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class Decoding:
    strategy: str = "greedy"  # "greedy" | "sample" | "beam"
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1.0 = off
    seed: int = 0
    max_new_tokens: int = 16
    num_beams: int = 3
    length_penalty: float = 1.0
    early_stopping: bool = False


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """(…, V) logits → filtered logits (removed tokens at −inf), transformers' warper order."""
    x = logits.float()
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (use greedy for T → 0)")
    if temperature != 1.0:
        x = x / temperature
    if top_k and top_k > 0:
        kth = x.topk(min(top_k, x.shape[-1]), dim=-1).values[..., -1:]  # (…, 1) the k-th largest logit
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        x = _top_p(x, top_p)
    return x


def _top_p(x: torch.Tensor, p: float) -> torch.Tensor:
    sorted_x, order = x.sort(dim=-1, descending=True)  # (…, V)
    probs = sorted_x.softmax(-1)
    before = probs.cumsum(-1) - probs  # mass strictly before each token
    remove_sorted = before >= p
    remove_sorted[..., 0] = False  # always keep the top token
    remove = remove_sorted.scatter(-1, order, remove_sorted)
    return x.masked_fill(remove, float("-inf"))


def choose(logits: torch.Tensor, d: Decoding, generator: torch.Generator | None) -> tuple[int, torch.Tensor]:
    """One decoding step on (V,) logits → (token id, the distribution it was drawn from (V,))."""
    if d.strategy == "greedy":
        probs = logits.float().softmax(-1)
        return int(logits.argmax()), probs
    probs = filter_logits(logits, d.temperature, d.top_k, d.top_p).softmax(-1)
    return int(torch.multinomial(probs[None], 1, generator=generator)[0, 0]), probs


@dataclass
class Step:
    token: int
    prob: float  # probability of the chosen token under the (filtered) distribution
    candidates: int  # tokens left after filtering
    top_ids: list[int]  # the 5 most likely tokens of that distribution
    top_probs: list[float]
    attn: torch.Tensor | None  # (L, H, t) the attention row of the query that produced this step
    cache_shape: tuple | None  # per layer (B, Hkv, t, D) after this step's forward
    ms: float  # wall time of this step's forward


@dataclass
class Generation:
    prompt: list[int]
    steps: list[Step] = field(default_factory=list)
    stopped: str = "max_new_tokens"

    @property
    def tokens(self) -> list[int]:
        return [s.token for s in self.steps]


def _last_rows(rec, num_layers: int) -> torch.Tensor:
    """The newest query's attention row in every layer, computed on demand from the recorded q and k: (L, H, t)."""
    rows = []
    for i in range(num_layers):
        nq = rec.source(("probs", i)).shape[2]
        rows.append(rec.attention(i, rows=slice(nq - 1, nq))[:, 0].float())  # (H, t)
    return torch.stack(rows)


def _cache_shape(cache) -> tuple | None:
    if cache is None or not getattr(cache, "layers", None):
        return None
    return tuple(cache.layers[0].keys.shape)  # (B, Hkv, t, D), same for every layer


@torch.no_grad()
def generate(
    model, input_ids: torch.Tensor, d: Decoding, rows: bool = True, use_cache: bool = True, eos_id: int | None = None
) -> Generation:
    """Greedy or sampled decoding, one token per step, with (or without) the KV cache."""
    if d.max_new_tokens > MAX_NEW_TOKENS:
        raise ValueError(f"at most {MAX_NEW_TOKENS} new tokens")
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1).to(model.device)
    g = torch.Generator().manual_seed(int(d.seed))
    gen, cache, feed = Generation(ids[0].tolist()), None, ids
    for _ in range(d.max_new_tokens):
        t0 = time.perf_counter()
        names = "blocks.*.attn.hook_probs" if rows else []
        with xviz.record(model, names=names, attention="lazy") as rec:  # q, k kept; the maps never built
            out = model(input_ids=feed, cache=cache, use_cache=use_cache, logits_to_keep=1)
        ms = (time.perf_counter() - t0) * 1e3
        logits = out.logits[0, -1].float().cpu()  # (V,)
        cache = out.cache if use_cache else None
        tok, probs = choose(logits, d, g)
        top = probs.topk(5)
        attn = _last_rows(rec, model.num_layers) if rows else None  # (L, H, t)
        gen.steps.append(
            Step(
                tok,
                float(probs[tok]),
                int((probs > 0).sum()),
                top.indices.tolist(),
                top.values.tolist(),
                attn,
                _cache_shape(cache),
                ms,
            )
        )
        new = torch.tensor([[tok]], device=model.device)
        feed = new if use_cache else torch.cat([feed, new], dim=1)
        if eos_id is not None and tok == eos_id:
            gen.stopped = "eos"
            break
    return gen


@dataclass(frozen=True)
class CacheTiming:
    with_cache_ms: list[float]  # per step (step 0 = the prompt's prefill)
    without_cache_ms: list[float]
    same_tokens: bool


def time_cache(model, input_ids: torch.Tensor, steps: int = 8) -> CacheTiming:
    """Greedy decoding with and without the KV cache: measured wall time per step, and that tokens agree."""
    d = Decoding("greedy", max_new_tokens=steps)
    a = generate(model, input_ids, d, rows=False, use_cache=True)
    b = generate(model, input_ids, d, rows=False, use_cache=False)
    return CacheTiming([s.ms for s in a.steps], [s.ms for s in b.steps], a.tokens == b.tokens)


def cache_bytes(shape: tuple, num_layers: int, bytes_per: int = 4) -> int:
    """Memory of K and V over all layers: 2 · L · B · Hkv · t · D · bytes."""
    n = 1
    for s in shape:
        n *= int(s)
    return 2 * num_layers * n * bytes_per
