"""The public API: the names in ``photoscore.__all__`` resolve, and docs/api.md's examples run as written."""

from __future__ import annotations

import doctest
import io
import re

import pytest

import photoscore

from conftest import REPO

PAGE = REPO / "docs" / "api.md"
RAY_SECTION = "\n## Score a catalogue on Ray\n"


def run_examples(text: str, name: str) -> tuple[doctest.TestResults, str]:
    """Run the ``>>>`` examples of a Markdown text (code fences removed) from the repository's root."""
    text = re.sub(r"^```.*$", "", text, flags=re.MULTILINE)
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(PAGE), 0)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    return runner.run(test, out=report.write), report.getvalue()


def test_every_public_name_resolves() -> None:
    assert set(photoscore.__all__) == {*photoscore._PUBLIC, "__version__"}
    for name in photoscore._PUBLIC:
        assert getattr(photoscore, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'score'"):
        _ = photoscore.score


def test_api_page_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    results, report = run_examples(PAGE.read_text().split(RAY_SECTION)[0], "api.md")
    assert results.attempted >= 12 and results.failed == 0, report


def test_api_page_ray_example(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    monkeypatch.chdir(REPO)
    started = not ray.is_initialized()
    try:
        results, report = run_examples(PAGE.read_text().split(RAY_SECTION)[1], "api.md (Ray)")
    finally:
        if started:
            ray.shutdown()
    assert results.attempted >= 6 and results.failed == 0, report
