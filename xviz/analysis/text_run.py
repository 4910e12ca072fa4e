"""Run a text model once and record what the Attention page shows (plain function; the app caches it).

Works on any model of the contract (xviz.models.contract): xviz's own encoders and the Hugging Face adapter's
decoders alike. Padding and special tokens come from the batch (`attention_mask`, `special`), never from token
strings; under grouped-query attention k and v are per KV head (`kv_head`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

import xviz
from xviz.analysis.recorded_run import RecordedRun
from xviz.device import run_with_oom_fallback
from xviz.errors import ResourceError
from xviz.hooks import AUTO_LAZY_BYTES, Recording, record

ATTN_HOOKS = "blocks.*.attn.hook_*"
MAX_RECORD_BYTES = 3 * 2**30
PAGE_MAX_TOKENS = 16384  # the longest input a page records, when the model's positions and the memory allow


@dataclass
class TextRun(RecordedRun):
    rec: Recording
    tokens: list[list[str]]
    truncated: bool
    notice: str | None = None
    special: list[list[bool]] = field(default_factory=list)  # per token: special ([CLS], <s>, …) or padding
    valid: list[list[bool]] = field(default_factory=list)  # per token: a real token (attention_mask == 1)
    is_causal: bool = False
    max_tokens: int = PAGE_MAX_TOKENS  # the limit the input was cut to
    model_name: str = ""

    @property
    def on_demand(self) -> bool:
        """The recording keeps attention as q/k (computed when a view reads it), not as N² maps."""
        return self.rec.is_lazy(("probs", 0))

    def kv_head(self, head: int) -> int:
        """The KV head serving query `head` (grouped-query attention: n_rep consecutive query heads share one)."""
        return kv_head_of(head, self.num_heads, self.rec["k", 0].shape[1])


def kv_head_of(head: int, num_heads: int, num_kv_heads: int) -> int:
    return head // max(num_heads // max(num_kv_heads, 1), 1)


def estimate_record_bytes(model, batch_size: int, n_tokens: int, bytes_per: int = 4) -> int:
    """What recording every attention hook keeps: q and z (B·L·H·N·D), k and v (B·L·Hkv·N·D: smaller under GQA),
    plus scores + probs (B·L·H·N²) while they stay under `record`'s on-demand threshold, else the N² mask (one
    byte a pair, shared by the layers)."""
    L, H, Hkv, D = model.num_layers, model.num_heads, model.num_kv_heads, model.head_dim
    n, b = n_tokens, batch_size
    linear = bytes_per * b * L * (2 * H * n * D + 2 * Hkv * n * D)
    dense = bytes_per * b * L * 2 * H * n * n
    return linear + (dense if dense <= AUTO_LAZY_BYTES else b * n * n)


def page_limit(model, max_tokens: int = PAGE_MAX_TOKENS, max_bytes: int = MAX_RECORD_BYTES) -> int:
    """The longest input a page records: the model's positions, at most `max_tokens`, and no longer than what a
    one-text recording keeps within `max_bytes` (a memory estimate, not a fixed 512)."""
    limit = min(max_tokens, model.max_positions or max_tokens)
    while limit > 16 and estimate_record_bytes(model, 1, limit) > max_bytes:
        limit = int(limit * 0.9)
    return limit


def run_text(model, items: list, max_bytes: int = MAX_RECORD_BYTES, max_tokens: int = PAGE_MAX_TOKENS) -> TextRun:
    """Tokenise `items` (texts or (a, b) pairs) up to `page_limit` tokens, refuse up front if the recording would
    not fit, then record every attention hook under no_grad; a CUDA out-of-memory falls back to the CPU."""
    limit = page_limit(model, max_tokens)
    batch = model.prepare(items, max_length=limit)
    n = batch["input_ids"].shape[1]
    need = estimate_record_bytes(model, len(items), n)
    if need > max_bytes:
        raise ResourceError(
            f"Recording {len(items)} × {n} tokens would need about {need / 2**20:,.0f} MiB "
            f"(limit {max_bytes / 2**20:,.0f} MiB). Use shorter or fewer texts."
        )

    dense = 4 * len(items) * model.num_layers * 2 * model.num_heads * n * n
    mode = "lazy" if dense > AUTO_LAZY_BYTES else "dense"  # record's "auto", decided here: lazy skips HF's N² mask

    def forward(device: torch.device) -> Recording:
        m = model if device == model.device else cpu_copy(model)
        inputs = {k: v.to(device) for k, v in batch.items()}
        meta = {"input": items, "tokens": batch.tokens}
        with torch.no_grad(), record(m, names=ATTN_HOOKS, meta=meta, attention=mode) as rec:
            m(**inputs, **({"logits_to_keep": 1} if m.kind == "lm" else {}))  # no (N, V) logits: 805 MB at 4k
        return rec

    rec, notice = run_with_oom_fallback(forward, model.device)
    valid = batch["attention_mask"].bool().cpu().tolist()
    return TextRun(
        rec,
        batch.tokens,
        batch.truncated,
        notice,
        [list(s) for s in batch.special],
        valid,
        model.is_causal,
        limit,
        model.name,
    )


def cpu_copy(model):
    """A CPU copy for the out-of-memory fallback. Adapter models are reloaded (their hooks are bound to the
    loaded modules, and a model dispatched by accelerate must not be deep-copied)."""
    if model.is_dispatched:
        raise ResourceError(
            f"{model.name} is spread over devices (device_map) and ran out of memory; "
            "use shorter texts or fewer of them."
        )
    if model.reload_to_copy:
        return xviz.load_model(model.name, device="cpu")
    return copy.deepcopy(model).to("cpu")
