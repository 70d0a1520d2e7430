"""`photoscore batch --review` and the catalogue duplicate search on the loopback Ray cluster of
test_batch.py: the review equals `photoscore review`'s, a killed review resumes exactly once, planted
copies across listings are found and distinct photos are not paired."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

pytest.importorskip("ray")
pytest.importorskip("moto.server")

import pyarrow.dataset as pads
import test_batch
from test_batch import photoscore, read_output

from photoscore.review.presets import get_preset
from photoscore.review.reviewer import Reviewer
from photoscore.scoring.engine import Scorer
from photoscore.scoring.registry import default_model

cluster, s3_env = test_batch.cluster, test_batch.s3_env  # the loopback cluster, one for this module


def listings_of(out: Path) -> dict[str, dict]:
    rows = pads.dataset(out / "_listings", format="parquet").to_table().to_pylist()
    return {r["listing"]: r for r in rows}


def test_review_job_decides_each_listing_as_review_does(cluster, tmp_path: Path):
    """Two listings of the example photos (one with copies of coffee.jpg); four shards of two."""
    names = {
        "L1": ["astronaut", "coffee", "coffee-dark", "coffee-blurred"],
        "L2": ["chelsea", "rocket", "coffee"],
    }
    paths = []
    for listing, photos in names.items():
        (tmp_path / "in" / listing).mkdir(parents=True)
        for name in photos:
            paths.append(tmp_path / "in" / listing / f"{name}.jpg")
            shutil.copy(REPO / "examples" / f"{name}.jpg", paths[-1])
    (tmp_path / "in" / "L2" / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "out"
    run = photoscore("batch", tmp_path / "in", "-r", "--out", out, "--review", "--preset", "airbnb",
                     "--shard-size", "2", env=cluster.env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Scored 7 of 8 photos" in run.stderr

    reviewer = Reviewer(Scorer([default_model()]), get_preset("airbnb"))
    files = sorted(p for p in (tmp_path / "in").rglob("*.jpg"))
    want = {str(Path(lr.photos[0].result.path).parent): lr for lr in reviewer.review(files, "parent")}
    rows = read_output(str(out))
    assert [r["path"] for r in rows] == [str(f) for f in files]
    listings = listings_of(out)
    assert set(listings) == set(want)
    for name, expected in want.items():
        got = listings[name]
        assert got["order"] == [p.result.path for p in expected.photos if p.position is not None]
        assert got["cover"] == (expected.cover.result.path if expected.cover else None)
        assert got["missing_rooms"] == expected.missing_rooms
        assert (got["verdict.cover"], got["verdict.rooms"], got["verdict.photo_count"]) == (
            expected.verdicts["cover"], expected.verdicts["rooms"], expected.verdicts["photo_count"]
        )  # fmt: skip
        for photo in expected.photos:
            row = rows[files.index(Path(photo.result.path))]
            assert row["group"] == name and row["error"] == photo.result.error
            assert (row["position"], row["cover"], row["rank"]) == (
                photo.position,
                photo.cover,
                photo.result.rank,
            )
            if photo.ok:
                assert row["room"] == photo.room and row["phash"] == photo.phash
                assert row["mean_score_prediction"] == pytest.approx(photo.score, abs=1e-6)
                assert np.allclose(row["embedding"], photo.embedding, atol=1e-5)
                assert {c.name: c.verdict for c in photo.checks} == {
                    c.name: row[f"{c.name}.verdict"] for c in photo.checks
                }
                assert row["reasons"] == photo.reasons
                dup = photo.duplicate_of
                assert row["duplicate_of"] == (None if dup is None else str(files[dup]))
    assert rows[files.index(tmp_path / "in" / "L1" / "coffee-dark.jpg")]["dark.verdict"] == "fail"

    rerun = photoscore("batch", tmp_path / "in", "-r", "--out", out, "--shard-size", "2", env=cluster.env)
    assert rerun.returncode != 0 and "other review" in rerun.stderr
