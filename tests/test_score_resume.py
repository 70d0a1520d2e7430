"""`score -o` is atomic and resumable: a real run killed with SIGKILL part-way, then resumed."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

LISTINGS, PHOTOS_PER_LISTING = 4, 50


def photoscore(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photoscore", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def listings(tmp_path_factory) -> Path:
    """200 small real JPEGs in 4 listing folders, each photo a different colour and noise."""
    root = tmp_path_factory.mktemp("listings")
    rng = np.random.default_rng(7)
    for listing in range(LISTINGS):
        folder = root / f"listing{listing}"
        folder.mkdir()
        for index in range(PHOTOS_PER_LISTING):
            pixels = rng.integers(0, 216, 3, dtype=np.uint8) + rng.integers(
                0, 40, (48, 48, 3), dtype=np.uint8
            )
            Image.fromarray(pixels).save(folder / f"photo{index:03d}.jpg", quality=90)
    return root


def rows_in(partial: Path) -> int:
    """Complete result rows in a partial file (its header line not counted)."""
    return max(partial.read_bytes().count(b"\n") - 1, 0) if partial.exists() else 0


def kill_part_way(args: list[str | Path], partial: Path, rows: int) -> None:
    """Start ``photoscore`` with ``args`` and SIGKILL it once ``partial`` holds at least ``rows`` rows."""
    process = subprocess.Popen(
        [sys.executable, "-m", "photoscore", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline and rows_in(partial) < rows:
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def read_output(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        return list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    return json.loads(path.read_text())


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_killed_run_keeps_the_old_file_and_resume_scores_only_the_rest(listings, tmp_path, suffix):
    listings = Path(shutil.copytree(listings, tmp_path / "listings"))
    out = tmp_path / f"scores{suffix}"
    partial = out.with_name(out.name + ".partial")
    # One photo at a time, so results do not depend on how photos share a model run.
    args = [listings, "-r", "--normalize", "minmax", "--batch-size", "1", "--workers", "1", "-o", out]
    clean = photoscore("score", *args)
    assert clean.returncode == 0, clean.stderr
    assert not partial.exists()
    previous = out.read_bytes()
    total = LISTINGS * PHOTOS_PER_LISTING
    assert len(read_output(out)) == total

    kill_part_way(["score", *args], partial, rows=20)
    assert out.read_bytes() == previous  # the complete file of the last run, untouched
    kept = rows_in(partial)
    assert 20 <= kept < total - 20
    lines = partial.read_text(encoding="utf-8").splitlines()
    kept_paths = [json.loads(line)["path"] for line in lines[1 : kept + 1]]

    again = photoscore("score", *args)
    assert again.returncode == 2 and "--resume" in again.stderr
    other = photoscore("score", *args, "--resume", "--scale", "0-100")
    assert other.returncode == 2 and "--scale" in other.stderr and "other" in other.stderr
    assert rows_in(partial) == kept and out.read_bytes() == previous

    # Spoil every photo the partial file already holds: scored again, they would come out as errors.
    for path in kept_paths:
        Path(path).write_bytes(b"not a photo any more")
    resumed = photoscore("score", *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{kept} of them were kept from the interrupted run, {total - kept} scored now" in resumed.stderr
    assert not partial.exists()
    records = read_output(out)
    assert sorted(r["path"] for r in records) == sorted({r["path"] for r in records})  # each photo once
    assert len(records) == total and not any(r["error"] for r in records)
    assert out.read_bytes() == previous  # the same bytes as the clean run: scores, normalisation, ranks
