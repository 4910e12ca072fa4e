"""Cached computations of the Language-model page, keyed on plain values (model name, device, token ids,
settings). The shared model is only read: every intervention goes through context-scoped `edits`."""

from __future__ import annotations

import dataclasses

import streamlit as st
import torch

from xviz.analysis import lm_beam, lm_decode, lm_heads, lm_next
from xviz.analysis.text_run import page_limit
from xviz.app import state


def _model(name: str, device: str):
    return state.load_model_cached(name, device)


def prompt_limit(name: str, device: str) -> int:
    """The longest prompt the page takes: the model's positions, capped by a memory estimate (not a fixed 512)."""
    return page_limit(_model(name, device))


@st.cache_data(max_entries=64, show_spinner=False)
def tokenize(name: str, device: str, text: str) -> tuple[tuple[int, ...], tuple[str, ...], bool]:
    """(ids, display strings, truncated) — cut to the page's limit (`prompt_limit`)."""
    batch = _model(name, device).prepare(text, max_length=prompt_limit(name, device))
    return tuple(batch["input_ids"][0].tolist()), tuple(batch.tokens[0]), bool(batch.truncated)


@st.cache_data(max_entries=256, show_spinner=False)
def decode(name: str, device: str, ids: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(_model(name, device).decode(list(ids)))


def token_id(name: str, device: str, text: str) -> int | None:
    """The first token of `text` without special tokens (" Mary" → its id); None when it gives none."""
    model = _model(name, device)
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"] if model.tokenizer is not None else []
    return int(ids[0]) if ids else None


@st.cache_data(max_entries=32, show_spinner="Running the model…")
def next_token(name: str, device: str, ids: tuple[int, ...], k: int) -> lm_next.NextToken:
    return lm_next.next_token(_model(name, device), torch.tensor(ids), k)


@st.cache_data(max_entries=16, show_spinner="Applying the logit lens to every layer…")
def logit_lens(name: str, device: str, ids: tuple[int, ...], answer: int | None, window: int) -> lm_next.LogitLens:
    return lm_next.logit_lens(_model(name, device), torch.tensor(ids), answer, window)


@st.cache_data(max_entries=16, show_spinner="Decoding step by step…")
def generate(name: str, device: str, ids: tuple[int, ...], d: tuple) -> lm_decode.Generation:
    model = _model(name, device)
    return lm_decode.generate(model, torch.tensor(ids), lm_decode.Decoding(*d), eos_id=model.eos_token_id)


@st.cache_data(max_entries=16, show_spinner="Beam search…")
def beam(name: str, device: str, ids: tuple[int, ...], d: tuple) -> lm_beam.BeamResult:
    model = _model(name, device)
    dec = lm_decode.Decoding(*d)
    return lm_beam.beam_search(
        model,
        torch.tensor(ids),
        dec.num_beams,
        dec.max_new_tokens,
        dec.length_penalty,
        dec.early_stopping,
        eos_id=model.eos_token_id,
    )


@st.cache_data(max_entries=8, show_spinner="Timing decoding with and without the KV cache…")
def cache_timing(name: str, device: str, ids: tuple[int, ...], steps: int) -> lm_decode.CacheTiming:
    return lm_decode.time_cache(_model(name, device), torch.tensor(ids), steps)


@st.cache_data(max_entries=16, show_spinner="Re-running with the heads ablated…")
def ablate(
    name: str, device: str, ids: tuple[int, ...], pairs: tuple, mode: str, k: int, token_pair: tuple | None
) -> lm_next.Ablation:
    return lm_next.ablate(_model(name, device), torch.tensor(ids), list(pairs), mode, k, token_pair)


@st.cache_data(max_entries=8, show_spinner="Recording every head's attention…")
def head_scores(name: str, device: str, ids: tuple[int, ...]) -> dict[str, torch.Tensor]:
    return lm_heads.model_head_scores(_model(name, device), torch.tensor(ids))


def repeated_ids(name: str, device: str, copy_len: int, seed: int) -> tuple[int, ...]:
    """[bos] + r + r with r random ids from the middle of the vocabulary (no special tokens)."""
    model = _model(name, device)
    bos, vocab = model.bos_token_id, model.vocab_size
    low, high = min(1000, vocab // 4), max(min(20000, vocab - 1), min(1000, vocab // 4) + 2)
    ids = lm_heads.repeated_random(copy_len, low, high, seed, [bos] if bos is not None else None)
    return tuple(ids.tolist())


def ioi_effects(name: str, device: str, ids: tuple[int, ...], a: int, b: int, mode: str):
    """Per-head ablation effect on logit(a) − logit(b), cached per session value set, with a progress bar."""
    key = ("lm_ioi", name, device, ids, a, b, mode)
    cache = st.session_state.setdefault("lm_ioi_cache", {})
    if key not in cache:
        bar = st.progress(0.0, text="Ablating every head, one layer per batch…")
        cache.clear()  # keep one result per session: (L, H) floats, but the run is the expensive part
        cache[key] = lm_heads.ablation_effects(
            _model(name, device), torch.tensor(ids), a, b, mode, progress=lambda f, m: bar.progress(min(f, 1.0), text=m)
        )
        bar.empty()
    return cache[key]


def decoding_tuple(d: lm_decode.Decoding) -> tuple:
    return dataclasses.astuple(d)
