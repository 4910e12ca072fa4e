"""Hook points and the context-scoped recorder.

A `HookPoint` is a permanent identity module placed where a visualiser wants to look. It records only when a
recorder is active in the *current context* (a ContextVar), so threads/sessions sharing one model never see each
other's tensors and no module state is mutated at request time. Names are module paths relative to the model
given to `record()`.
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import functools
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from xviz.errors import ResourceError
from xviz.lazy_attention import AttentionSource, StoredAttention

NameFilter = None | str | Iterable[str] | Callable[[str], bool]

_ACTIVE: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar("xviz_recorder", default=None)

# Shorthand keys: rec["probs", 3] -> "blocks.3.attn.hook_probs"
_ATTN_KEYS = {"q", "k", "v", "scores", "probs", "z"}
_DENSE = ("hook_scores", "hook_probs")  # what an attention module can keep on demand instead (lazy_attention.py)
AUTO_LAZY_BYTES = 256 * 2**20  # attention="auto": dense scores/probs above this go on demand


class HookPoint(nn.Module):
    """Identity module; hands its input to the active recorder (if it wants this point)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rec = _ACTIVE.get()
        if rec is None:
            return x
        name = rec.name_of(self)
        if name is None:
            return x
        edit = rec.edits.get(name)
        if edit is not None:  # an intervention of this context only (ablation, patching)
            x = edit(x)
        if rec.wants(name):
            rec.capture(name, x)
        return x

    def active(self) -> bool:
        """True when the recorder of the current context wants this point (used to pick explicit paths)."""
        rec = _ACTIVE.get()
        if rec is None:
            return False
        name = rec.name_of(self)
        return name is not None and (rec.wants(name) or name in rec.edits)


def hook_names(model: nn.Module) -> list[str]:
    """All hook-point names of a model, in module order."""
    return [n for n, m in model.named_modules() if isinstance(m, HookPoint)]


def _compile_filter(names: NameFilter) -> Callable[[str], bool]:
    if names is None:
        return lambda n: True
    if callable(names):
        return names
    patterns = [names] if isinstance(names, str) else list(names)
    regexes = [re.compile(fnmatch.translate(p)) for p in patterns]
    return lambda n: any(r.match(n) for r in regexes)


class _Recorder:
    """Per-context capture state. Holds no reference to the model once built (only id -> name)."""

    def __init__(
        self,
        model: nn.Module,
        names: NameFilter,
        grads: bool,
        dtype: torch.dtype | None,
        edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
        attention: str = "auto",
        max_bytes: int | None = None,
    ):
        self._names = {id(m): n for n, m in model.named_modules() if isinstance(m, HookPoint)}
        unknown = set(edits or {}) - set(self._names.values())
        if unknown:
            raise KeyError(f"no hook point named {sorted(unknown)[:3]} in this model")
        if attention not in ("auto", "dense", "lazy"):
            raise ValueError(f"attention must be 'auto', 'dense' or 'lazy', not {attention!r}")
        self.edits = dict(edits or {})
        self._filter = _compile_filter(names)
        self._wanted: dict[str, bool] = {}
        self.grads = grads
        self.dtype = dtype
        self.tensors: dict[str, torch.Tensor] = {}
        self.attached: dict[str, torch.Tensor] = {}  # graph-attached tensors, differentiated by Recording.backward
        self.grad_store: dict[str, torch.Tensor] = {}
        self.sources: dict[str, AttentionSource] = {}  # attention module name -> what it computed attention from
        self.source_kinds: dict[str, tuple[str, ...]] = {}  # which of hook_scores / hook_probs each one stands for
        self.attention = "dense" if grads else attention  # gradients need the dense tensors in the graph
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()
        self.bytes = 0
        self._dense_points = sum(1 for n in self._names.values() if n.endswith(_DENSE) and self.wants(n))

    def name_of(self, module: nn.Module) -> str | None:
        return self._names.get(id(module))

    def wants(self, name: str) -> bool:
        hit = self._wanted.get(name)
        if hit is None:
            hit = self._wanted[name] = bool(self._filter(name))
        return hit

    def capture(self, name: str, x: torch.Tensor) -> None:
        # A module called twice in one forward (shared layers) keeps its last value. A storage dtype is applied
        # now, not at exit: a float16 recording then never holds its float32 copy (half the fresh memory).
        t = x.detach()
        if self.dtype is not None and t.is_floating_point() and t.dtype != self.dtype:
            t = t.to(self.dtype)
        self._account(name, t.numel() * t.element_size())
        self.tensors[name] = t
        if self.grads and x.requires_grad:
            self.attached[name] = x
            x.register_hook(self._grad_hook(name))  # bound at forward time, to this context's store

    def _account(self, name: str, nbytes: int) -> None:
        """The notebook API never takes the machine down: refuse before a capture would pass the budget."""
        self.bytes += nbytes
        if self.bytes > self.max_bytes:
            raise ResourceError(
                f"This recording passed {self.max_bytes / 2**30:.1f} GiB at {name} ({self.bytes / 2**30:.1f} GiB "
                f"kept so far). Record fewer hooks (names=...), store float16 (dtype=torch.float16), keep attention "
                f"on demand (attention='lazy'), or raise the limit (max_bytes=, or XVIZ_RECORD_MAX_BYTES)."
            )

    def lazy_target(self, scores: HookPoint, probs: HookPoint, shape: tuple[int, ...]) -> str | None:
        """The attention module's name when its scores / probs are to be kept on demand (an AttentionSource)
        instead of as dense tensors: attention="lazy", or "auto" and the dense ones would pass AUTO_LAZY_BYTES.
        Edited scores or probs always take the dense path (the edit must see the tensor)."""
        names = [self.name_of(scores), self.name_of(probs)]
        wanted = tuple(n.rpartition(".")[2] for n in names if n is not None and self.wants(n))
        if not wanted or any(n in self.edits for n in names if n) or self.attention == "dense":
            return None
        dense = self._dense_points * math.prod(shape) * (self.dtype or torch.float32).itemsize
        if self.attention == "auto" and dense <= AUTO_LAZY_BYTES:
            return None
        module = (names[0] or names[1]).rpartition(".")[0]
        self.source_kinds[module] = wanted
        return module

    def capture_source(self, module: str, src: AttentionSource) -> None:
        known = {id(t) for s in self.sources.values() for t in (s.mask, s.bias) if t is not None}
        shared = sum(t.numel() * t.element_size() for t in (src.mask, src.bias) if t is not None and id(t) in known)
        self._account(f"{module} (attention on demand)", src.nbytes() - shared)
        self.sources[module] = src

    def _grad_hook(self, name: str) -> Callable[[torch.Tensor], None]:
        store = self.grad_store

        def hook(g: torch.Tensor) -> None:
            store[f"{name}_grad"] = g.detach()

        return hook


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


def lazy_attention(scores: HookPoint, probs: HookPoint, shape: tuple[int, ...]) -> Callable | None:
    """For attention modules: `capture(src)` when this context keeps their attention on demand, else None (then
    they record scores and probs densely through the two hook points, if those are wanted)."""
    rec = _ACTIVE.get()
    if rec is None:
        return None
    module = rec.lazy_target(scores, probs, shape)
    return None if module is None else functools.partial(rec.capture_source, module)


class Recording(Mapping):
    """Recorded tensors by hook name (CPU, detached). No reference to the model.

    `rec["blocks.3.attn.hook_probs"]`, or the shorthand `rec["probs", 3]`; `rec.stack("probs")` -> (L, ...).
    """

    def __init__(self, tensors: dict[str, torch.Tensor] | None = None, meta: dict | None = None):
        self.tensors: dict[str, torch.Tensor] = dict(tensors or {})
        self.meta: dict[str, Any] = dict(meta or {})
        self._recorder: _Recorder | None = None
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


@contextlib.contextmanager
def record(
    model: nn.Module,
    names: NameFilter = None,
    grads: bool = False,
    dtype: torch.dtype | None = None,
    meta: dict | None = None,
    edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    attention: str = "auto",
    max_bytes: int | None = None,
) -> Iterator[Recording]:
    """Record hook points of `model` run inside this block, in this context only.

    names: None (all), a glob ("*.attn.hook_probs"), a list of globs/names, or a callable name -> bool.
    grads: also keep graph-attached tensors; call `rec.backward(loss)` to fill `<name>_grad`.
    dtype: storage dtype for floating tensors (e.g. torch.float16 halves the memory).
    edits: {hook name: fn(tensor) -> tensor} applied at that hook point in this context only (e.g. zero a
    head's `hook_z` to ablate it); the shared model is not touched. `record(model, names=[], edits=...)` runs
    an intervention without recording anything.
    attention: "dense" stores scores / probs; "lazy" keeps what they are computed from (q after RoPE, k per KV
    head, mask, bias) and computes them when read (`rec[...]`, `rec.attention(layer, head, rows, cols)`), equal to
    the dense values; "auto" (default) goes lazy when the dense ones would pass 256 MiB. Gradients need "dense".
    max_bytes: the budget of what is kept (default: XVIZ_RECORD_MAX_BYTES or half the memory available); a
    capture past it raises ResourceError before the machine runs out, saying what to record instead.
    Tensors are copied to the CPU once, when the block exits.
    """
    recorder = _Recorder(model, names, grads, dtype, edits, attention, max_bytes)
    rec = Recording(meta=_default_meta(model, meta, dtype))
    rec.max_bytes = recorder.max_bytes
    rec._recorder = recorder
    token = _ACTIVE.set(recorder)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)
        _to_recording(recorder, rec, dtype)
        if not grads:
            rec._recorder = None


def _to_recording(recorder: _Recorder, rec: Recording, dtype: torch.dtype | None) -> None:
    """Everything captured, on the host, once (a tensor shared by a hook and an attention source copied once)."""
    moved: dict[int, torch.Tensor] = {}

    def host(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        if id(t) not in moved:
            moved[id(t)] = _to_host(t, dtype if t.is_floating_point() else None)
        return moved[id(t)]

    for name, t in recorder.tensors.items():
        rec.tensors[name] = host(t)
    for name, g in recorder.grad_store.items():
        rec.tensors[name] = _to_host(g, dtype)
    for module, s in recorder.sources.items():
        rec.sources[module] = AttentionSource(
            host(s.q), host(s.k), host(s.mask), host(s.bias), s.scale, s.softcap, s.causal
        )
        for kind in recorder.source_kinds.get(module, ()):
            rec.virtual[f"{module}.{kind}"] = (module, kind.removeprefix("hook_"))
    if any(t.device.type == "cuda" for t in recorder.tensors.values()):
        torch.cuda.synchronize()
    recorder.tensors.clear()
    recorder.sources.clear()


def _default_meta(model: nn.Module, meta: dict | None, dtype: torch.dtype | None) -> dict:
    try:
        p = next(model.parameters())
        device, pdtype = str(p.device), str(p.dtype).replace("torch.", "")
    except StopIteration:
        device, pdtype = "cpu", "float32"
    out = {
        "model": getattr(model, "name", type(model).__name__),
        "device": device,
        "model_dtype": pdtype,
        "storage_dtype": str(dtype).replace("torch.", "") if dtype else pdtype,
    }
    out.update(meta or {})
    return out


def active_recorder() -> _Recorder | None:
    """The recorder of the current context, if any (for adapters that gate their own work on it)."""
    return _ACTIVE.get()
