"""Where converted weights live: one folder shared by every model that converts once and caches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$XVIZ_CACHE, else $XDG_CACHE_HOME/xviz, else ~/.cache/xviz."""
    if os.environ.get("XVIZ_CACHE"):
        return Path(os.environ["XVIZ_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xviz"
