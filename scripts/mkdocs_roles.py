"""MkDocs hook: the docstrings' Sphinx roles shown as Sphinx shows them, as code (``:class:`~a.b.C``` as
``C``, ``:mod:`a.b``` as ``a.b``), instead of the role's raw text."""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([\w.]+)</code>")


def _code(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    """Replace each ``:role:<code>target</code>`` of a page with ``<code>target</code>``."""
    return ROLE.sub(_code, html)
