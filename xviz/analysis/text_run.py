"""Run a text model once and record what the Attention page shows (plain function; the app caches it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xviz.analysis.recorded_run import RecordedRun
from xviz.device import run_with_oom_fallback
from xviz.errors import ResourceError
from xviz.hooks import Recording, record

ATTN_HOOKS = "blocks.*.attn.hook_*"
MAX_RECORD_BYTES = 3 * 2**30


@dataclass
class TextRun(RecordedRun):
    rec: Recording
    tokens: list[list[str]]
    truncated: bool
    notice: str | None = None
    special: list[list[bool]] = field(default_factory=list)


def estimate_record_bytes(model, batch_size: int, n_tokens: int, bytes_per: int = 4) -> int:
    """Scores + probs (B·L·H·N²) and q, k, v, z (4·B·L·H·N·D) as float32."""
    cfg = model.cfg
    L, H = cfg.num_layers, cfg.num_heads
    D = cfg.hidden_size // H
    return bytes_per * batch_size * L * H * (2 * n_tokens * n_tokens + 4 * n_tokens * D)


def run_text(model, items: list, max_bytes: int = MAX_RECORD_BYTES) -> TextRun:
    """Tokenise `items` (texts or (a, b) pairs), refuse up front if the recording would not fit, then record
    every attention hook under no_grad; a CUDA out-of-memory falls back to a CPU copy of the model."""
    batch = model.prepare(items)
    n = batch["input_ids"].shape[1]
    need = estimate_record_bytes(model, len(items), n)
    if need > max_bytes:
        raise ResourceError(f"Recording {len(items)} × {n} tokens would need about {need / 2**20:,.0f} MiB "
                            f"(limit {max_bytes / 2**20:,.0f} MiB). Use shorter or fewer texts.")

    def forward(device: torch.device) -> Recording:
        m = model if device == model.device else _cpu_copy(model)
        inputs = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad(), record(m, names=ATTN_HOOKS, meta={"input": items, "tokens": batch.tokens}) as rec:
            m(**inputs)
        return rec

    rec, notice = run_with_oom_fallback(forward, model.device)
    special = [[t in ("[CLS]", "[SEP]", "[PAD]") for t in toks] for toks in batch.tokens]
    return TextRun(rec, batch.tokens, batch.truncated, notice, special)


def _cpu_copy(model):
    import copy
    return copy.deepcopy(model).to("cpu")
