"""The variants' knobs, each declared once: its slider (label, range, default, widget key) and the field of
`VariantParams` it fills. The page builds its sliders from `PARAMS`; `VariantParams` takes its defaults from it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

WIDGETS = ("slider", "select_slider", "selectbox", "checkbox", "number")


@dataclass(frozen=True)
class Param:
    """One knob. `key` is the widget key and so the URL query parameter: keep it stable (tests and shared links
    use it). `column` places it in the page's four columns of sliders."""

    name: str  # the VariantParams field
    key: str
    label: str
    default: int | bool | str
    widget: str = "slider"  # one of WIDGETS
    min: int | None = None
    max: int | None = None
    step: int | None = None
    options: tuple = ()  # select_slider / selectbox choices
    column: int = 0
    help: str | None = None

    def __post_init__(self):
        if self.widget not in WIDGETS:
            raise ValueError(f"{self.name}: unknown widget {self.widget!r}")
        if self.options and self.default not in self.options:
            raise ValueError(f"{self.name}: default {self.default!r} is not one of {self.options}")
        if self.min is not None and not self.min <= self.default <= self.max:
            raise ValueError(f"{self.name}: default {self.default} outside [{self.min}, {self.max}]")


# a table, one knob per entry: kept as written
# fmt: off
PARAMS: dict[str, Param] = {p.name: p for p in [
    Param("window", "var_w", "Window w (|i − j| ≤ w/2)", 8, min=2, max=256, step=2,
          help="Sliding window / Longformer: |i − j| ≤ w/2"),
    Param("dilation", "var_d", "Dilation d", 2, min=1, max=8, help="Dilated window"),
    Param("stride", "var_stride", "Stride / Sparse Transformer l", 4, min=1, max=64,
          help="Strided, Sparse Transformer l"),
    Param("summary", "var_c", "Fixed pattern: summary c", 1, min=1, max=16,
          help="Sparse Transformer fixed: c summary positions per block"),
    Param("n_global", "var_glob", "Global tokens", 1, min=0, max=8, column=1,
          help="Global tokens: the first n_global positions"),
    Param("block", "var_block", "Block (BigBird, Sinkhorn)", 4, min=2, max=64, column=1,
          help="BigBird and Sinkhorn block size"),
    Param("num_random", "var_r", "BigBird random blocks r", 1, min=0, max=8, column=1,
          help="BigBird random blocks per block row"),
    Param("n_clusters", "var_clusters", "k-means clusters", 3, min=1, max=32, column=1, help="Routing k-means"),
    Param("n_buckets", "var_buckets", "LSH buckets", 4, "select_slider", options=(1, 2, 4, 8, 16, 32, 64),
          column=2, help="LSH buckets (1 or even)"),
    Param("n_hashes", "var_hashes", "LSH rounds", 2, min=1, max=8, column=2),
    Param("shared_qk", "var_shared", "Reformer shared-QK", False, "checkbox", column=2),
    Param("proj_dim", "var_k", "Linformer k", 8, min=1, max=512, column=2),
    Param("projection", "var_proj", "Linformer E, F", "pool", "selectbox", options=("pool", "gaussian"), column=3,
          help="Linformer E, F: pool (segment means) or gaussian (JL)"),
    Param("features", "var_m", "Performer features m", 64, min=1, max=1024, column=3),
    Param("orthogonal", "var_orf", "Orthogonal features", True, "checkbox", column=3,
          help="Performer: orthogonal random features"),
    # The page gives it a decoder-dependent default and key (variants_sections._causal_checkbox).
    Param("causal", "var_causal", "Causal", False, "checkbox", column=3,
          help="Mask keys after the query (j > i), in the variant and in the full attention it is compared with."),
    Param("seed", "var_seed", "Seed", 0, "number", min=0, max=10_000, column=3),
]}
# fmt: on


def _default(name: str):
    return PARAMS[name].default


@dataclass(frozen=True)
class VariantParams:
    """Every knob of every variant (plain values: hashable, cacheable, shareable in a URL). Defaults and meanings
    live in PARAMS; a field without a Param (or a Param without a field) fails at import."""

    window: int = _default("window")
    dilation: int = _default("dilation")
    stride: int = _default("stride")
    summary: int = _default("summary")
    n_global: int = _default("n_global")
    block: int = _default("block")
    num_random: int = _default("num_random")
    n_buckets: int = _default("n_buckets")
    n_hashes: int = _default("n_hashes")
    shared_qk: bool = _default("shared_qk")
    n_clusters: int = _default("n_clusters")
    proj_dim: int = _default("proj_dim")
    projection: str = _default("projection")
    features: int = _default("features")
    orthogonal: bool = _default("orthogonal")
    causal: bool = _default("causal")  # causal versions of window / strided patterns and the approximations
    seed: int = _default("seed")

    def replace(self, **kw) -> VariantParams:
        return dataclasses.replace(self, **kw)


_fields = {f.name for f in dataclasses.fields(VariantParams)}
if _fields != set(PARAMS):  # one source of truth: every field has its slider and every slider its field
    raise TypeError(f"VariantParams fields and PARAMS differ: {sorted(_fields ^ set(PARAMS))}")
