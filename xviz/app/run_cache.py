"""Recording caches bounded by bytes, not entries: twelve 512-token SmolLM2 recordings are 7 GB, twelve MiniLM
sentences a few MB. One process-wide budget (`XVIZ_RUN_CACHE_MB`, default 1536) shared by every page and session;
least recently used results are dropped first. Keys are plain values (model name, device, input, settings)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import streamlit as st
import torch

V = TypeVar("V")


def nbytes_of(obj, depth: int = 0) -> int:
    """Bytes held by tensors inside obj (a Recording, a dataclass, dicts, lists…), counted once each."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if depth > 4:
        return 0
    if hasattr(obj, "nbytes") and callable(obj.nbytes):
        return int(obj.nbytes())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(nbytes_of(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return sum(nbytes_of(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes_of(v, depth + 1) for v in obj)
    return 0


class ByteBudgetCache:
    """A thread-safe LRU map whose entries' total size stays under max_bytes (the newest entry always stays)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: other sessions keep reading meanwhile
        size = nbytes_of(value)
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self.total += size
            while self.total > self.max_bytes and len(self._items) > 1:
                _, (_, dropped) = self._items.popitem(last=False)
                self.total -= dropped
        return value

    def __len__(self) -> int:
        return len(self._items)


@st.cache_resource
def run_cache() -> ByteBudgetCache:
    return ByteBudgetCache(int(os.environ.get("XVIZ_RUN_CACHE_MB", "1536")) * 2**20)


def get_or_compute(key: Hashable, compute: Callable[[], V]) -> V:
    """`compute()` once per key while it fits the process-wide byte budget. Results are shared: never mutate."""
    return run_cache().get_or_compute(key, compute)
