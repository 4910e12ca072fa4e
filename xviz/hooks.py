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
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from xviz.errors import ResourceError
from xviz.lazy_attention import AttentionSource
from xviz.recording import Recording, _to_host, default_max_bytes

NameFilter = None | str | Iterable[str] | Callable[[str], bool]

_ACTIVE: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar("xviz_recorder", default=None)

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


def lazy_attention(scores: HookPoint, probs: HookPoint, shape: tuple[int, ...]) -> Callable | None:
    """For attention modules: `capture(src)` when this context keeps their attention on demand, else None (then
    they record scores and probs densely through the two hook points, if those are wanted)."""
    rec = _ACTIVE.get()
    if rec is None:
        return None
    module = rec.lazy_target(scores, probs, shape)
    return None if module is None else functools.partial(rec.capture_source, module)


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
