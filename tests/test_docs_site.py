"""The docs site's pieces that run without MkDocs: the Sphinx-role hook and the pages named in the nav."""

from __future__ import annotations

import importlib.util
import re

from conftest import REPO


def load_hook():
    spec = importlib.util.spec_from_file_location("mkdocs_roles", REPO / "scripts" / "mkdocs_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sphinx_roles_become_code() -> None:
    hook = load_hook()
    html = (
        "<p>see :class:<code>~photoscore.scoring.listing.Ranking</code>, :mod:<code>photoscore.scoring</code>"
        " and :meth:<code>score</code>; <code>:class:</code> stays</p>"
    )
    assert hook.on_page_content(html, page=None) == (
        "<p>see <code>Ranking</code>, <code>photoscore.scoring</code> and <code>score</code>;"
        " <code>:class:</code> stays</p>"
    )


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = re.sub(r"#.*", "", (REPO / "mkdocs.yml").read_text())
    nav = set(re.findall(r":\s*([\w-]+\.md)$", config, flags=re.MULTILINE))
    assert nav == {p.name for p in (REPO / "docs").glob("*.md")}
