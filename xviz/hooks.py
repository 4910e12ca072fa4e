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
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

NameFilter = None | str | Iterable[str] | Callable[[str], bool]

_ACTIVE: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar("xviz_recorder", default=None)

# Shorthand keys: rec["probs", 3] -> "blocks.3.attn.hook_probs"
_ATTN_KEYS = {"q", "k", "v", "scores", "probs", "z"}


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
    ):
        self._names = {id(m): n for n, m in model.named_modules() if isinstance(m, HookPoint)}
        unknown = set(edits or {}) - set(self._names.values())
        if unknown:
            raise KeyError(f"no hook point named {sorted(unknown)[:3]} in this model")
        self.edits = dict(edits or {})
        self._filter = _compile_filter(names)
        self._wanted: dict[str, bool] = {}
        self.grads = grads
        self.dtype = dtype
        self.tensors: dict[str, torch.Tensor] = {}
        self.attached: dict[str, torch.Tensor] = {}  # graph-attached tensors, differentiated by Recording.backward
        self.grad_store: dict[str, torch.Tensor] = {}

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
        self.tensors[name] = t
        if self.grads and x.requires_grad:
            self.attached[name] = x
            x.register_hook(self._grad_hook(name))  # bound at forward time, to this context's store

    def _grad_hook(self, name: str) -> Callable[[torch.Tensor], None]:
        store = self.grad_store

        def hook(g: torch.Tensor) -> None:
            store[f"{name}_grad"] = g.detach()

        return hook


class Recording(Mapping):
    """Recorded tensors by hook name (CPU, detached). No reference to the model.

    `rec["blocks.3.attn.hook_probs"]`, or the shorthand `rec["probs", 3]`; `rec.stack("probs")` -> (L, ...).
    """

    def __init__(self, tensors: dict[str, torch.Tensor] | None = None, meta: dict | None = None):
        self.tensors: dict[str, torch.Tensor] = dict(tensors or {})
        self.meta: dict[str, Any] = dict(meta or {})
        self._recorder: _Recorder | None = None
        self._stacks: dict[str, torch.Tensor] = {}  # stack() results; recordings are read-only once recorded

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
        if name not in self.tensors:
            raise KeyError(f"{name!r} was not recorded (recorded: {len(self.tensors)} tensors)")
        return self.tensors[name]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (str, tuple)) and self._resolve(key) in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

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
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

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
) -> Iterator[Recording]:
    """Record hook points of `model` run inside this block, in this context only.

    names: None (all), a glob ("*.attn.hook_probs"), a list of globs/names, or a callable name -> bool.
    grads: also keep graph-attached tensors; call `rec.backward(loss)` to fill `<name>_grad`.
    dtype: storage dtype for floating tensors (e.g. torch.float16 halves the memory).
    edits: {hook name: fn(tensor) -> tensor} applied at that hook point in this context only (e.g. zero a
    head's `hook_z` to ablate it); the shared model is not touched. `record(model, names=[], edits=...)` runs
    an intervention without recording anything.
    Tensors are copied to the CPU once, when the block exits.
    """
    recorder = _Recorder(model, names, grads, dtype, edits)
    rec = Recording(meta=_default_meta(model, meta, dtype))
    rec._recorder = recorder
    token = _ACTIVE.set(recorder)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)
        for name, t in recorder.tensors.items():
            rec.tensors[name] = _to_host(t, dtype)
        for name, g in recorder.grad_store.items():
            rec.tensors[name] = _to_host(g, dtype)
        if any(t.device.type == "cuda" for t in recorder.tensors.values()):
            torch.cuda.synchronize()
        recorder.tensors.clear()
        if not grads:
            rec._recorder = None


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
