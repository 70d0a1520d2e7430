"""Installed size of photoscore's core and of what each extra adds, from the environment it runs in.

Run it with the interpreter of a venv that has every extra (``make test`` then ``make docs`` make one):
``.venv/bin/python scripts/extra_sizes.py``. Sizes are the files each distribution installed (its
RECORD), so the venv's own pip and setuptools are left out.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = ("eval", "serve", "ray", "train", "test", "docs", "dev")


def dist_size(name: str) -> int:
    """Bytes of the files a distribution installed."""
    dist = distribution(name)
    return sum(
        Path(dist.locate_file(f)).stat().st_size
        for f in dist.files or []
        if Path(dist.locate_file(f)).is_file()
    )


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """The installed distributions that ``name[extras]`` pulls in, itself included."""
    found: set[str] = set()
    todo, done = [(name, extras)], set()
    while todo:
        item = todo.pop()
        if item in done:
            continue
        done.add(item)
        try:
            dist = distribution(item[0])
        except PackageNotFoundError:
            continue
        found.add(canonicalize_name(item[0]))
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {*item[1], ""}):
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return found


def main() -> None:
    core = closure("photoscore")
    sizes = {name: dist_size(name) for name in closure("photoscore", frozenset(EXTRAS))}
    print(f"core: {sum(sizes[n] for n in core) / 1e6:,.0f} MB ({len(core)} distributions)")
    for extra in EXTRAS:
        added = closure("photoscore", frozenset({extra})) - core
        print(f"[{extra}]: +{sum(sizes[n] for n in added) / 1e6:,.0f} MB ({len(added)} distributions)")


if __name__ == "__main__":
    main()
