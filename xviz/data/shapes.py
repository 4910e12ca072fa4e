"""The shapes world: small rendered scenes with known ground truth, the data of `clip-shapes`, `swin-shapes` and
`mae-shapes`.

A scene is 1–3 non-overlapping objects — a shape (circle, square, triangle) in a colour (red, green, blue, yellow,
orange, purple) and a size (small, large) at a position — on a plain or textured (stripes, checker, noise) neutral
background, with a caption composed from the attributes ("a small red circle above a blue square"). Everything
comes from `random.Random(f"{split}:{seed}")` (and a numpy Generator seeded from it), never the global RNG: a scene
is a pure function of (split, seed). Objects are drawn on a 4× canvas with PIL and box-downsampled (anti-aliased
edges; interior pixels keep the object's exact colour).

Held-out combinations: `HELD_OUT` (green triangle, purple circle) never appear in a scene unless a caller asks
(`exclude=frozenset()` or `combo=`): clip-shapes never sees them in training, so classifying them is zero-shot.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image, ImageDraw

from xviz.errors import InputError
from xviz.inputs.image_batch import normalise as normalise_channels

IMAGE_SIZE = 64
SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 220, 40),
    "orange": (245, 140, 25),
    "purple": (145, 55, 190),
}
SIZES: dict[str, tuple[float, float]] = {"small": (5.0, 8.0), "large": (11.0, 15.0)}  # half-extent r (px at 64)
BACKGROUNDS = ("plain", "stripes", "checker", "noise")
HELD_OUT: frozenset[tuple[str, str]] = frozenset({("green", "triangle"), ("purple", "circle")})  # (colour, shape)
# how a caption names one object (weights: how often): both attributes mostly; one of them alone sometimes, so the
# text tower learns each word on its own ("a triangle" for a triangle of any colour), not only the pairs
FORMS = {"size colour shape": 0.3, "colour shape": 0.4, "colour": 0.15, "shape": 0.15}
SPLITS = ("train", "test")  # seed namespaces: the same seed gives unrelated scenes in each
JITTER = 12  # ± per channel around an object's colour
SUPER = 4  # drawing canvas scale
OUTLINE = (15, 15, 15)  # a 1-px dark contour around every object
AREA = {"circle": math.pi, "square": 4.0, "triangle": 2.0}  # area / r²
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # measured over 2000 scenes: mean ≈ 0.50, std ≈ 0.26 per channel


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    colour: str
    size: str
    cx: float  # centre, px (x right, y down)
    cy: float
    r: float  # half-extent: the object fills the box (cx ± r, cy ± r)
    rgb: tuple[int, int, int]

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.cx - self.r, self.cy - self.r, self.cx + self.r, self.cy + self.r

    @property
    def area(self) -> float:
        return AREA[self.shape] * self.r**2

    def phrase(self, form: str = "size colour shape") -> str:
        """The object in words, naming the attributes in `form` (one of FORMS): "a small red circle", "an orange
        square", "a green shape" (no shape named), "a large triangle" (no colour named)."""
        words = [self.size if "size" in form else "", self.colour if "colour" in form else ""]
        return with_article(" ".join([w for w in words if w] + [self.shape if form.endswith("shape") else "shape"]))


@dataclass(frozen=True)
class Scene:
    split: str
    seed: int
    background: str
    objects: tuple[ShapeObject, ...]
    caption: str  # as sampled: some objects named by colour or shape alone (FORMS)
    image: Image.Image  # RGB, IMAGE_SIZE × IMAGE_SIZE

    @property
    def full_caption(self) -> str:
        """Every attribute of every object named: "a small red circle above a large blue square"."""
        return compose_caption(self.objects, ("size colour shape",) * len(self.objects))

    @property
    def largest(self) -> ShapeObject:
        return max(self.objects, key=lambda o: o.area)


def with_article(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def label_names() -> list[str]:
    """The colour × shape labels ("red circle", …), colour-major: class index = colour·3 + shape."""
    return [f"{c} {s}" for c in COLOURS for s in SHAPES]


def label_phrases() -> list[str]:
    """The labels as captions of a one-object scene without its size ("a red circle", "an orange square")."""
    return [with_article(n) for n in label_names()]


def class_index(colour: str, shape: str) -> int:
    return list(COLOURS).index(colour) * len(SHAPES) + SHAPES.index(shape)


def relation(a: ShapeObject, b: ShapeObject) -> str:
    """Where a is relative to b, along the axis of the larger centre offset (image y grows downwards)."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "to the left of" if dx < 0 else "to the right of"


def compose_caption(objects: tuple[ShapeObject, ...], forms: tuple[str, ...]) -> str:
    """1 object: "a small red circle"; 2: "a red circle above a large blue square"; 3: "a A, a B and a C"."""
    d = [o.phrase(f) for o, f in zip(objects, forms)]
    if len(d) == 1:
        return d[0]
    if len(d) == 2:
        return f"{d[0]} {relation(objects[0], objects[1])} {d[1]}"
    return ", ".join(d[:-1]) + f" and {d[-1]}"


def _background(rng: random.Random, size: int) -> tuple[str, np.ndarray]:
    """A neutral (grey) background (size, size, 3) uint8: plain half the time, else one of three low-contrast
    textures (a high-contrast checkerboard is itself a field of squares: it would hide the objects' shapes)."""
    kind = "plain" if rng.random() < 0.5 else rng.choice(BACKGROUNDS[1:])
    a = rng.uniform(20, 235)
    b = float(np.clip(a + rng.choice((-1, 1)) * rng.uniform(12, 35), 0, 255))  # low contrast: objects stay salient
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)  # (size, size) each
    if kind == "plain":
        grey = np.full((size, size), a, np.float32)
    elif kind == "stripes":
        theta, period = rng.uniform(0, math.pi), rng.uniform(4, 12)
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) / (period / 2)
        grey = np.where(np.floor(phase) % 2 == 0, a, b)
    elif kind == "checker":
        cell = rng.randint(4, 10)
        grey = np.where((xx // cell + yy // cell) % 2 == 0, a, b)
    else:
        noise = np.random.default_rng(rng.getrandbits(64)).uniform(-20, 20, (size, size))
        grey = a + noise
    tint = np.array([rng.uniform(-6, 6) for _ in range(3)], np.float32)
    return kind, np.clip(grey[..., None] + tint, 0, 255).round().astype(np.uint8)  # (size, size) -> (size, size, 3)


def _fits(box, placed: list[ShapeObject], size: int, two_apart: bool) -> bool:
    x0, y0, x1, y1 = box
    if x0 < 1 or y0 < 1 or x1 > size - 1 or y1 > size - 1:
        return False
    for o in placed:
        ox0, oy0, ox1, oy1 = o.box
        if x0 < ox1 + 2 and ox0 < x1 + 2 and y0 < oy1 + 2 and oy0 < y1 + 2:
            return False
        if two_apart:  # a two-object caption names one relation: keep one axis clearly dominant
            dx, dy = abs((x0 + x1) / 2 - o.cx), abs((y0 + y1) / 2 - o.cy)
            if max(dx, dy) < 1.5 * min(dx, dy):
                return False
    return True


def _combo(rng: random.Random, exclude: frozenset) -> tuple[str, str]:
    while True:
        colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
        if (colour, shape) not in exclude:
            return colour, shape


def _objects(rng: random.Random, n: int, size: int, exclude: frozenset, combo) -> tuple[ShapeObject, ...]:
    placed: list[ShapeObject] = []
    for i in range(n):
        colour, shape = combo if (i == 0 and combo) else _combo(rng, exclude)
        for _ in range(60):  # rejection sampling; an object that never fits is left out
            size_name = rng.choice(list(SIZES))
            r = rng.uniform(*SIZES[size_name]) * size / IMAGE_SIZE
            cx, cy = rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1)
            if _fits((cx - r, cy - r, cx + r, cy + r), placed, size, n == 2):
                rgb = tuple(int(np.clip(v + rng.randint(-JITTER, JITTER), 0, 255)) for v in COLOURS[colour])
                placed.append(ShapeObject(shape, colour, size_name, cx, cy, r, rgb))
                break
    return tuple(placed)


def _draw(background: np.ndarray, objects: tuple[ShapeObject, ...]) -> Image.Image:
    size = background.shape[0]
    canvas = Image.fromarray(background).resize((size * SUPER, size * SUPER), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for o in objects:
        x0, y0, x1, y1 = (v * SUPER for v in o.box)
        if o.shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=o.rgb, outline=OUTLINE, width=SUPER)
        elif o.shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=o.rgb, outline=OUTLINE, width=SUPER)
        else:  # apex at the top centre, base along the bottom edge of the box
            draw.polygon([((x0 + x1) / 2, y0), (x0, y1), (x1, y1)], fill=o.rgb, outline=OUTLINE, width=SUPER)
    return canvas.reduce(SUPER)  # box filter: SUPER² canvas pixels → 1


def render_scene(
    seed: int,
    split: str = "train",
    n_objects: int | None = None,
    combo: tuple[str, str] | None = None,
    exclude: frozenset = HELD_OUT,
    size: int = IMAGE_SIZE,
    first_shape: str | None = None,
) -> Scene:
    """The scene of (split, seed). n_objects: 1–3 (default: uniform); combo: force the first object's
    (colour, shape); exclude: (colour, shape) pairs never drawn otherwise (default: the held-out ones);
    first_shape: redraw the same scene with its first object in this shape (a counterfactual twin: background,
    places, sizes, colours and the caption's wording unchanged; the caption then always names that shape)."""
    if split not in SPLITS:
        raise InputError(f"Unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    if combo is not None and (combo[0] not in COLOURS or combo[1] not in SHAPES):
        raise InputError(f"Unknown object {combo!r}: colours {', '.join(COLOURS)}; shapes {', '.join(SHAPES)}.")
    rng = random.Random(f"{split}:{seed}")
    n = n_objects if n_objects is not None else rng.randint(1, 3)
    if not 1 <= n <= 3:
        raise InputError(f"A scene holds 1 to 3 objects, not {n}.")
    kind, background = _background(rng, size)
    objects = _objects(rng, n, size, exclude, combo)
    forms = [rng.choices(list(FORMS), list(FORMS.values()))[0] for _ in objects]
    if first_shape is not None:
        if first_shape not in SHAPES:
            raise InputError(f"Unknown shape {first_shape!r}; use one of {', '.join(SHAPES)}.")
        objects = (replace(objects[0], shape=first_shape), *objects[1:])
        forms[0] = forms[0] if forms[0].endswith("shape") else "colour shape"  # the shape is named
    caption = compose_caption(objects, tuple(forms))
    return Scene(split, seed, kind, objects, caption, _draw(background, objects))


def twin_scenes(
    seed: int, split: str = "train", exclude: frozenset = HELD_OUT, n_objects: int | None = None
) -> tuple[Scene, Scene]:
    """The scene of (split, seed) and its twin whose first object has another shape (never an excluded colour ×
    shape), both captions naming that object's shape: a pair that only the shape tells apart — a hard negative for
    contrastive training, whose batches colour alone would otherwise separate (cf. Yuksekgonul et al. 2023)."""
    kw = dict(exclude=exclude, n_objects=n_objects)
    first = render_scene(seed, split, **kw).objects[0]
    others = [s for s in SHAPES if s != first.shape and (first.colour, s) not in exclude]
    other = random.Random(f"twin:{split}:{seed}").choice(others)
    return (
        render_scene(seed, split, first_shape=first.shape, **kw),
        render_scene(seed, split, first_shape=other, **kw),
    )


def render_scenes(split: str, start: int, count: int, **kw) -> list[Scene]:
    """Scenes start … start + count − 1 of a split (keyword arguments as render_scene)."""
    return [render_scene(s, split, **kw) for s in range(start, start + count)]


def to_tensor(scenes: list[Scene]) -> torch.Tensor:
    """Scenes → (B, 3, H, W) float in [0, 1]."""
    arr = np.stack([np.asarray(s.image, dtype=np.float32) for s in scenes]) / 255.0  # (B, H, W, 3)
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()  # (B, H, W, 3) -> (B, 3, H, W)


def normalise(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] → model space with the shapes world's MEAN and STD (the one normalisation of xviz.inputs)."""
    return normalise_channels(x01, MEAN, STD)


def caption_vocabulary() -> list[str]:
    """Every word (and the comma) a caption can hold, in a fixed order."""
    words = ["a", "an", "and", ",", "above", "below", "to", "the", "left", "right", "of"]
    return words + list(SIZES) + list(COLOURS) + list(SHAPES) + ["shape"]
