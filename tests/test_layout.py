"""The layering rule: the core never imports a face, nothing outside training/ imports torch, and the
scoring modules import one another without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "photoscore"
FACES = ("cli", "server", "batch")


def photoscore_imports(path: Path) -> set[str]:
    """Every module name the file imports (at any depth, lazily or not)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(where: Path = PACKAGE) -> list[Path]:
    return sorted(where.rglob("*.py"))


def is_face(name: str) -> bool:
    """A face, or ``python -m photoscore``, which only starts one."""
    if name == "photoscore.__main__":
        return True
    return any(name == f"photoscore.{f}" or name.startswith(f"photoscore.{f}.") for f in FACES)


@pytest.mark.parametrize("path", [p for p in sources() if not is_face(module_name(p))], ids=module_name)
def test_the_core_never_imports_a_face(path: Path) -> None:
    faces = sorted(name for name in photoscore_imports(path) if is_face(name))
    assert not faces, f"{module_name(path)} imports the face(s) {faces}"


@pytest.mark.parametrize("path", sources(), ids=module_name)
def test_only_training_imports_torch(path: Path) -> None:
    if module_name(path).startswith("photoscore.training"):
        return
    heavy = sorted(n for n in photoscore_imports(path) if n.split(".")[0] in {"torch", "timm", "torchvision"})
    assert not heavy, f"{module_name(path)} imports {heavy}"


def test_scoring_modules_import_without_a_circle() -> None:
    graph = {
        module_name(p): {n for n in photoscore_imports(p) if n.startswith("photoscore.scoring.")}
        for p in sources(PACKAGE / "scoring")
    }

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    circles = sorted(m for m in graph if reaches(m, m, {m}))
    assert not circles, f"import circle through {circles}"
