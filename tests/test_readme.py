"""The README's promises that a fresh clone checks first: what `make demo` prints, and its links."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO

README = (REPO / "README.md").read_text()


def test_demo_prints_what_the_readme_shows() -> None:
    shown = README.split("`make demo` prints:\n\n```\n", 1)[1].split("```", 1)[0].splitlines()
    run = subprocess.run(
        [sys.executable, "-m", "photoscore", "score", "examples/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == shown[1:-1]
    assert run.stderr.splitlines() == [shown[0], shown[-1]]


def test_readme_links_lead_to_files() -> None:
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    local = [t for t in targets if "://" not in t]
    assert len(local) >= 10
    assert [t for t in local if not (REPO / t).exists()] == []
