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

from photoscore.scoring.results import ModelScore, ScoreResult
from photoscore.scoring.resume import PartialFileError, PartialRun

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


def _result(index: int) -> ScoreResult:
    mean = 1 + index / 7
    return ScoreResult(
        f"p{index}", f"photos/p{index}.jpg", mean, 1.0, [0.1] * 10, {"m": ModelScore(mean, 1.0)}
    )


def test_a_row_cut_short_by_a_kill_is_dropped_and_scored_again(tmp_path):
    path = tmp_path / "out.json.partial"
    settings = {"--model": [{"name": "m", "sha256": "ab"}], "photos": {"count": 3}}
    photos = [f"photos/p{i}.jpg" for i in range(3)]
    run = PartialRun.start(path, settings)
    list(run.record([_result(0), _result(1)]))
    run.close()
    with path.open("ab") as stream:
        stream.write(b'{"path": "photos/p2.jpg", "mean": 1.2')  # the kill came mid-row
    resumed = PartialRun.resume(path, settings, photos)
    assert resumed.done == 2
    list(resumed.record([_result(2)]))
    resumed.close()
    assert [r.path for r in resumed.results()] == photos
    assert [r.mean_score_prediction for r in resumed.results()] == [
        1 + i / 7 for i in range(3)
    ]  # full precision


def test_resume_refuses_other_settings_and_other_photos(tmp_path):
    path = tmp_path / "out.json.partial"
    settings = {"--model": [{"name": "m", "sha256": "ab"}], "--model-weights": [1.0], "--scale": None}
    run = PartialRun.start(path, settings)
    list(run.record([_result(0)]))
    run.close()
    other = {**settings, "--model": [{"name": "m", "sha256": "cd"}], "--model-weights": [0.5]}
    with pytest.raises(
        PartialFileError, match=r"made with other --model, --model-weights: resume with the same"
    ):
        PartialRun.resume(path, other, ["photos/p0.jpg"])
    with pytest.raises(PartialFileError, match=r"line 2: holds 'photos/p0.jpg' where 'photos/q.jpg' belongs"):
        PartialRun.resume(path, settings, ["photos/q.jpg"])
    with pytest.raises(FileExistsError):
        PartialRun.start(path, settings)
    path.write_text("not json\n")
    with pytest.raises(PartialFileError, match="not a partial file"):
        PartialRun.resume(path, settings, ["photos/p0.jpg"])


def test_jsonl_output_and_resume_without_a_partial_file(photo_dir, colour_model, tmp_path):
    out = tmp_path / "scores.jsonl"
    model = colour_model()
    run = photoscore("score", photo_dir, "-m", model, "-o", out, "--resume")
    assert run.returncode == 0, run.stderr
    assert "Nothing to resume" in run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["image_id"] for r in records] == ["astronaut", "chelsea", "coffee", "rocket"]
    assert all(1 <= r["mean_score_prediction"] <= 10 for r in records)
    assert not out.with_name("scores.jsonl.partial").exists()
    no_output = photoscore("score", photo_dir, "-m", model, "--resume")
    assert no_output.returncode == 2 and "give -o" in no_output.stderr


def test_a_second_run_on_a_partial_file_in_use_is_refused(listings, tmp_path):
    """Two `--resume` runs at once gave 984 rows for 600 photos. The run writing the partial file holds
    its lock: a second run, with or without --resume, is refused at once and the file is untouched."""
    listings = Path(shutil.copytree(listings, tmp_path / "listings"))
    out = tmp_path / "scores.json"
    partial = out.with_name(out.name + ".partial")
    args = [listings, "-r", "--batch-size", "1", "--workers", "1", "-o", out]
    kill_part_way(["score", *args], partial, rows=10)
    first = subprocess.Popen(
        [sys.executable, "-m", "photoscore", "score", *map(str, args), "--resume"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while rows_in(partial) < 20 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # paused, still holding the file, while the second run tries
        assert first.poll() is None, "the first run ended before the second started"
        held = partial.read_bytes()
        for extra in (["--resume"], []):
            second = photoscore("score", *args, *extra)
            assert second.returncode == 2, second.stderr
            assert f"{partial} is in use by another photoscore run that is still going" in second.stderr
        assert partial.read_bytes() == held
    finally:
        first.send_signal(signal.SIGCONT)
        _, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr
    records = read_output(out)
    assert len(records) == LISTINGS * PHOTOS_PER_LISTING
    assert len({r["path"] for r in records}) == len(records)


def test_the_lock_is_let_go_when_the_run_is_removed(tmp_path):
    partial = tmp_path / "o.json.partial"
    run = PartialRun.start(partial, {"a": 1})
    with pytest.raises(PartialFileError, match="in use by another photoscore run"):
        PartialRun.resume(partial, {"a": 1}, [])
    run.remove()
    PartialRun.start(partial, {"a": 1}).remove()


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('{"path": "photos/p0.jpg", "mean": 5.0}', "image_id missing or not text"),
        (
            '{"path": "photos/p0.jpg", "image_id": "p0", "mean": "abc", "std": 1, "distribution": null, '
            '"models": {}, "error": null}',
            "mean missing or not a finite number",
        ),
        (
            '{"path": "photos/p0.jpg", "image_id": "p0", "mean": NaN, "std": 1, "distribution": null, '
            '"models": {}, "error": null}',
            "mean missing or not a finite number",
        ),
        (
            '{"path": "photos/p0.jpg", "image_id": "p0", "mean": 5, "std": 1, "distribution": [1, "x"], '
            '"models": {}, "error": null}',
            "distribution missing or not a list of finite numbers",
        ),
    ],
)
def test_tampered_rows_are_a_partial_file_error(tmp_path, row, problem):
    """Rows edited by hand gave KeyError, ValueError or TypeError, and a NaN mean was written as bare NaN
    (not JSON); each is now a PartialFileError naming the line and what is wrong."""
    path = tmp_path / "out.json.partial"
    path.write_text('{"format": "photoscore partial scores 1", "settings": {}}\n' + row + "\n")
    with pytest.raises(PartialFileError, match=rf"line 2: not a result row \({problem}\)"):
        PartialRun.resume(path, {}, ["photos/p0.jpg"])
    path.write_text('{"format": "photoscore partial scores 1", "settings": 5}\n')
    with pytest.raises(PartialFileError, match="not a partial file of photoscore score"):
        PartialRun.resume(path, {}, ["photos/p0.jpg"])


def test_a_score_that_is_not_a_number_is_written_as_null():
    from photoscore.scoring.output import result_record

    record = result_record(ScoreResult("a", "a.jpg", float("nan"), 1.0, [float("inf")] * 10), ["m"])
    assert record["mean_score_prediction"] is None and record["distribution"] == [None] * 10
    assert "NaN" not in json.dumps(record)
