"""Recorded tensors by hook name, and attention kept on demand (`record()` in hooks.py fills one)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from xviz.errors import ResourceError
from xviz.lazy_attention import AttentionSource, StoredAttention

# Shorthand keys: rec["probs", 3] -> "blocks.3.attn.hook_probs"
_ATTN_KEYS = {"q", "k", "v", "scores", "probs", "z"}


def default_max_bytes() -> int:
    """The recording budget: XVIZ_RECORD_MAX_BYTES, else half of the memory available now."""
    env = os.environ.get("XVIZ_RECORD_MAX_BYTES")
    if env and env.isdigit():
        return int(env)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024 // 2
    except (OSError, KeyError, ValueError):
        return 8 * 2**30


class Recording(Mapping):
    """Recorded tensors by hook name (CPU, detached). No reference to the model.

    `rec["blocks.3.attn.hook_probs"]`, or the shorthand `rec["probs", 3]`; `rec.stack("probs")` -> (L, ...).
    """

    def __init__(self, tensors: dict[str, torch.Tensor] | None = None, meta: dict | None = None):
        self.tensors: dict[str, torch.Tensor] = dict(tensors or {})
        self.meta: dict[str, Any] = dict(meta or {})
        self._recorder = None  # the hooks' recorder while gradients can still be taken (record(grads=True))
        self._stacks: dict[str, torch.Tensor] = {}  # stack() results; recordings are read-only once recorded
        # attention kept on demand: module name ("blocks.3.attn") -> its AttentionSource, and the hook names it
        # stands for ("blocks.3.attn.hook_probs" …): reading one of those computes it (xviz/lazy_attention.py)
        self.sources: dict[str, AttentionSource] = {}
        self.virtual: dict[str, tuple[str, str]] = {}  # hook name -> (module, "scores" | "probs")
        self.max_bytes = default_max_bytes()

    # -- mapping -------------------------------------------------------------------------------------------
    def _resolve(self, key: str | tuple) -> str:
        if isinstance(key, str):
            return key
        short, layer = key
        candidates = [f"blocks.{layer}.attn.hook_{short}"] if short in _ATTN_KEYS else []
        candidates += [f"blocks.{layer}.hook_{short}", f"blocks.{layer}.{short}"]
        for c in candidates:
            if c in self.tensors:
                return c
        return candidates[0]

    def __getitem__(self, key: str | tuple) -> torch.Tensor:
        name = self._resolve(key)
        if name in self.tensors:
            return self.tensors[name]
        if name in self.virtual:  # attention kept on demand: materialised now, under the memory budget
            module, kind = self.virtual[name]
            src = self.sources[module]
            need = src.dense_nbytes(torch.float32)
            if need > self.max_bytes:
                raise ResourceError(
                    f"{name} would take {need / 2**30:.1f} GiB as one tensor (limit {self.max_bytes / 2**30:.1f} "
                    "GiB): read it in parts with rec.attention(layer, head, rows=..., cols=...)."
                )
            return src.dense(kind)
        raise KeyError(f"{name!r} was not recorded (recorded: {len(self)} tensors)")

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, tuple)):
            return False
        name = self._resolve(key)
        return name in self.tensors or name in self.virtual

    def __iter__(self) -> Iterator[str]:
        yield from self.tensors
        yield from (n for n in self.virtual if n not in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors) + sum(1 for n in self.virtual if n not in self.tensors)

    # -- attention on demand ---------------------------------------------------------------------------------
    def is_lazy(self, key: str | tuple) -> bool:
        """True when this scores / probs hook is kept on demand (computed when read), not stored."""
        return self._resolve(key) in self.virtual and self._resolve(key) not in self.tensors

    def source(self, key: str | tuple) -> AttentionSource:
        """What an attention map was computed from; for a dense recording, a source that serves the stored tensor."""
        name = self._resolve(key)
        if name in self.virtual and name not in self.tensors:
            return self.sources[self.virtual[name][0]]
        return StoredAttention(self[name])

    def attention(
        self,
        layer: int | str,
        head: int | None = None,
        rows: slice = slice(None),
        cols: slice = slice(None),
        kind: str = "probs",
        batch: int = 0,
    ) -> torch.Tensor:
        """Rows × cols of one head's map, or of every head (head=None → (H, r, c)), computed on demand when the
        recording keeps attention that way: never more than the asked block. `layer`: a block index or the hook
        name ("decoder.blocks.1.cross_attn.hook_probs")."""
        key = layer if isinstance(layer, str) else (kind, layer)
        src = self.source(key)
        nq = src.shape[2]
        r0, r1, _ = rows.indices(nq)
        heads = src.head_index(head)
        out = torch.cat([t for _, t in src.blocks(kind, heads, rows=slice(r0, r1))], dim=2)[batch, :, :, cols]
        return out[0] if head is not None else out  # (r, c) or (H, r, c)

    def num_layers(self, short: str = "probs") -> int:
        n = 0
        while (short, n) in self:
            n += 1
        return n

    def stack(self, short: str) -> torch.Tensor:
        """Stack a per-block hook over layers: e.g. "probs" -> (L, B, H, Nq, Nk). Computed once per key and
        shared between callers: do not modify the result in place."""
        if short not in self._stacks:
            n = self.num_layers(short)
            if n == 0:
                raise KeyError(f"no per-block {short!r} tensors recorded")
            self._stacks[short] = torch.stack([self[short, i] for i in range(n)])
        return self._stacks[short]

    def num_heads(self, short: str = "probs") -> int:
        return self[short, 0].shape[1]

    def nbytes(self) -> int:
        """Bytes kept: stored tensors plus the sources of attention kept on demand (shared tensors counted once)."""
        seen: dict[int, int] = {}
        for t in self.tensors.values():
            seen[t.untyped_storage().data_ptr()] = t.numel() * t.element_size()
        for s in self.sources.values():
            for t in (s.q, s.k, s.mask, s.bias):
                if t is not None:
                    seen.setdefault(t.untyped_storage().data_ptr(), t.numel() * t.element_size())
        return sum(seen.values())

    def dense_nbytes(self) -> int:
        """What the same recording would keep with every scores / probs tensor stored densely (float32)."""
        lazy = sum(self.sources[m].dense_nbytes(torch.float32) for n, (m, _) in self.virtual.items())
        return sum(t.numel() * t.element_size() for t in self.tensors.values()) + lazy

    # -- gradients -----------------------------------------------------------------------------------------
    def backward(self, loss: torch.Tensor) -> None:
        """Fill `<name>_grad` for every recorded tensor via torch.autograd.grad (never touches `.grad`)."""
        rec = self._recorder
        if rec is None or not rec.attached:
            raise RuntimeError("nothing to differentiate: record with grads=True around a forward that builds a graph")
        names = list(rec.attached)
        grads = torch.autograd.grad(loss, [rec.attached[n] for n in names], allow_unused=True)
        for n, g in zip(names, grads):
            key = f"{n}_grad"
            g = rec.grad_store.get(key, g)  # the tensor hook already stored it when it fired
            if g is not None:
                self.tensors[key] = _to_host(g, rec.dtype)
        rec.attached.clear()
        self._stacks.clear()

    # -- export --------------------------------------------------------------------------------------------
    def to_npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, **{k: _to_numpy(v) for k, v in self.tensors.items()})
        return buf.getvalue()

    def meta_json(self) -> str:
        meta = dict(self.meta)
        meta["tensors"] = {
            k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in self.tensors.items()
        }
        return json.dumps(meta, indent=2, default=str)

    def save(self, path: str) -> tuple[str, str]:
        """Write `<path>.npz` and `<path>.json` (meta: model, input, dtype, device, shapes)."""
        stem = path[:-4] if path.endswith(".npz") else path
        with open(f"{stem}.npz", "wb") as f:
            f.write(self.to_npz_bytes())
        with open(f"{stem}.json", "w", encoding="utf-8") as f:
            f.write(self.meta_json())
        return f"{stem}.npz", f"{stem}.json"

    @classmethod
    def load(cls, path: str) -> Recording:
        stem = path[:-4] if path.endswith(".npz") else path
        with np.load(f"{stem}.npz", allow_pickle=False) as data:  # never unpickle
            tensors = {k: torch.from_numpy(data[k]) for k in data.files}
        with open(f"{stem}.json", encoding="utf-8") as f:
            meta = json.load(f)
        meta.pop("tensors", None)
        return cls(tensors, meta)

    def __repr__(self) -> str:
        return f"Recording({len(self)} tensors, {self.nbytes() / 2**20:.1f} MiB)"


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def _to_host(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype=dtype)
    return t.to("cpu", non_blocking=True) if t.device.type != "cpu" else t
