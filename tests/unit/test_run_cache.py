"""The byte-bounded recording cache: evicts least recently used entries by size, not count."""

import threading

import torch

from xviz.app.run_cache import ByteBudgetCache, nbytes_of
from xviz.hooks import Recording


def test_evicts_by_bytes_lru():
    c = ByteBudgetCache(max_bytes=10_000)
    calls = []

    def make(n):
        return lambda: calls.append(n) or torch.zeros(n // 4)  # n bytes of float32

    c.get_or_compute("a", make(4000))
    c.get_or_compute("b", make(4000))
    c.get_or_compute("a", make(4000))  # hit: a becomes most recent
    c.get_or_compute("c", make(4000))  # 12 000 > 10 000: drops b (least recent), keeps a
    assert calls == [4000, 4000, 4000] and len(c) == 2 and c.total == 8000
    c.get_or_compute("a", make(4000))
    c.get_or_compute("b", make(4000))  # b was evicted: recomputed
    assert calls == [4000] * 4
    c.get_or_compute("huge", make(40_000))  # bigger than the budget: kept alone (the page needs it now)
    assert len(c) == 1 and c.total == 40_000


def test_sizes_of_recordings_and_nested_results():
    rec = Recording({"x": torch.zeros(10, dtype=torch.float16), "y": torch.zeros(5)})
    assert nbytes_of(rec) == 40
    assert nbytes_of({"r": rec, "t": [torch.zeros(2, dtype=torch.int64)]}) == 56


def test_threads_share_one_result():
    c = ByteBudgetCache(1 << 20)
    out = []
    ts = [threading.Thread(target=lambda: out.append(c.get_or_compute("k", lambda: torch.ones(3)))) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(out) == 8 and all(torch.equal(o, torch.ones(3)) for o in out) and len(c) == 1
