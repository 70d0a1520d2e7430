"""`photoscore batch --review` and the catalogue duplicate search on the loopback Ray cluster of
test_batch.py: the review equals `photoscore review`'s, a killed review resumes exactly once, planted
copies across listings are found and distinct photos are not paired."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import REPO

pytest.importorskip("ray")
pytest.importorskip("moto.server")

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import test_batch
from test_batch import kill_and_settle, paced_job, photoscore, read_output, wait_for_a_part

from photoscore.batch.catalogue import Buckets
from photoscore.review.presets import get_preset, load_preset_file
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


def test_a_platforms_own_rules_decide_the_listings(cluster, tmp_path: Path):
    """`batch --review --preset-file`: the file's rules decide as `photoscore review --preset-file` does,
    and a rerun with other rules in the file is refused."""
    for listing, photos in {
        "L1": ["astronaut", "coffee"],
        "L2": ["chelsea", "rocket", "coffee-dark"],
    }.items():
        (tmp_path / "in" / listing).mkdir(parents=True)
        for name in photos:
            shutil.copy(REPO / "examples" / f"{name}.jpg", tmp_path / "in" / listing / f"{name}.jpg")
    rules = tmp_path / "our-site.json"
    rules.write_text(json.dumps({"min_size": [4000, 3000], "min_photos": 1, "required_rooms": ["exterior"]}))
    out = tmp_path / "out"
    run = photoscore("batch", tmp_path / "in", "-r", "--out", out, "--review", "--preset-file", rules,
                     env=cluster.env)  # fmt: skip
    assert run.returncode == 0, run.stderr

    reviewer = Reviewer(Scorer([default_model()]), load_preset_file(rules))
    files = sorted((tmp_path / "in").rglob("*.jpg"))
    listings = listings_of(out)
    for expected in reviewer.review(files, "parent"):
        got = listings[str(Path(expected.photos[0].result.path).parent)]
        assert got["preset"] == "our-site"
        assert got["missing_rooms"] == expected.missing_rooms == ["exterior"]
        assert got["verdict.photo_count"] == expected.verdicts["photo_count"]
    # No example photo is 4000x3000, so no listing holds the one acceptable photo the rules ask for.
    assert all(row["size.verdict"] == "fail" for row in read_output(str(out)))
    assert {row["verdict.photo_count"] for row in listings.values()} == {"fail"}

    rules.write_text(json.dumps({"min_photos": 1}))
    rerun = photoscore("batch", tmp_path / "in", "-r", "--out", out, "--review", "--preset-file", rules,
                       env=cluster.env)  # fmt: skip
    assert rerun.returncode != 0 and "other review" in rerun.stderr
    alone = photoscore("batch", tmp_path / "in", "-r", "--out", tmp_path / "o2", "--preset-file", rules,
                       env=cluster.env)  # fmt: skip
    assert alone.returncode != 0 and "add --review" in alone.stderr


def test_buckets_are_sized_for_the_catalogue() -> None:
    """Signatures grow with log2 of the photos (a bucket of unrelated photos stays near 16) and the tables
    keep the chance that a copy at cosine 0.93 shares a bucket at 0.97 or more."""
    for photos, bits in [(1_000, 12), (11_000, 12), (1_000_000, 16), (10_000_000, 20), (100_000_000, 23)]:
        buckets = Buckets.for_photos(photos)
        assert buckets.bits == bits
        agree = (1 - np.arccos(0.93) / np.pi) ** bits
        assert 1 - (1 - agree) ** buckets.tables >= 0.97 > 1 - (1 - agree) ** (buckets.tables - 1)
    assert Buckets.for_photos(1_000_000) == Buckets()
    assert Buckets.for_photos(10, bits=8, tables=3) == Buckets(bits=8, tables=3)


def plant(livec: Path, folder: Path) -> set[frozenset[str]]:
    """Six listings of distinct real photos (LIVE and examples), four of them holding a copy of a photo
    of another listing (re-encoded, half size, cropped 6% a side, brightened), and one listing holding a
    copy of its own photo; returns the cross-listing pairs (file paths)."""
    originals = sorted((livec / "images").glob("*.*"))[:12] + [
        REPO / "examples" / f"{n}.jpg" for n in ("chelsea", "rocket", "astronaut")
    ]
    listings = {}
    for index, source in enumerate(originals):
        listing = folder / f"L{index % 6}"
        listing.mkdir(parents=True, exist_ok=True)
        target = listing / f"{source.stem}.jpg"
        Image.open(source).convert("RGB").save(target, quality=95)
        listings[target] = listing

    def crop(image: Image.Image) -> Image.Image:
        w, h = image.size
        return image.crop((int(0.06 * w), int(0.06 * h), int(0.94 * w), int(0.94 * h)))

    edits = {
        "reencoded": lambda im: im,
        "half": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
        "cropped": crop,
        "brighter": lambda im: ImageEnhance.Brightness(im).enhance(1.3),
    }
    photos = list(listings)
    planted = set()
    for k, (name, edit) in enumerate(edits.items()):
        original = photos[k * 3]
        other = folder / f"L{(int(original.parent.name[1:]) + 1 + k) % 6}"
        copy = other / f"{name}-{original.stem}.jpg"
        edit(Image.open(original)).save(copy, quality=70)
        planted.add(frozenset({str(original), str(copy)}))
    same = photos[1]
    Image.open(same).save(same.parent / f"again-{same.stem}.jpg", quality=80)  # a copy in its own listing
    return planted


def pairs_of(out: Path) -> dict[frozenset[str], tuple[int, float]]:
    rows = pads.dataset(out / "_duplicates", format="parquet").to_table().to_pylist()
    return {frozenset({r["photo"], r["other_photo"]}): (r["hash_distance"], r["similarity"]) for r in rows}


def test_catalogue_duplicates_found_across_listings_and_again_from_storage(cluster, livec_dir, tmp_path):
    planted = plant(livec_dir, tmp_path / "in")
    out = tmp_path / "out"
    run = photoscore("batch", tmp_path / "in", "-r", "--out", out, "--review", "--duplicates", "--shard-size", "6",
                     env=cluster.env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Found 4 pairs of photos reused across listings" in run.stderr
    found = pairs_of(out)
    assert set(found) == planted  # every copy found; no two distinct photos, no pair inside a listing
    rows = pads.dataset(out / "_duplicates", format="parquet").to_table().to_pylist()
    assert all(r["listing"] != r["other_listing"] and r["photo_row"] < r["other_row"] for r in rows)
    counts = pads.dataset(out / "_duplicate_counts", format="parquet").to_table().to_pylist()
    assert sorted(c["pairs"] for c in counts) == sorted(
        [
            sum(r["listing"] == c["listing"] or r["other_listing"] == c["listing"] for r in rows)
            for c in counts
        ]
    )
    assert sum(c["pairs"] for c in counts) == 8
    again_own = [r for r in read_output(str(out)) if Path(r["path"]).name.startswith("again-")]
    assert len(again_own) == 1 and again_own[0]["duplicate_of"] is not None  # the in-listing review's

    import ray.data

    from photoscore.batch import catalogue_duplicates

    stored = ray.data.read_parquet(str(out), columns=["input_row", "path", "group", "phash", "embedding"])
    api = catalogue_duplicates(stored, buckets=Buckets.for_photos(21)).take_all()  # the Python API, in one go
    assert {
        frozenset({r["photo"], r["other_photo"]}): (r["hash_distance"], r["similarity"]) for r in api
    } == found

    command = [sys.executable, "-m", "photoscore", "batch", "--duplicates-only", "--out", str(out)]
    killed = subprocess.Popen(command, env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    keys_done = out / "_duplicates_work" / "keys" / "_done.json"
    while not keys_done.exists():  # the search's first step written; its passes under way
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert json.loads((out / "_photoscore_batch.json").read_text())["duplicates"] is None
    rerun = photoscore(*command[3:], env=cluster.env)
    assert rerun.returncode == 0, rerun.stderr
    assert "Took up an interrupted search: keys" in rerun.stderr
    assert pairs_of(out) == found
    assert not (out / "_duplicates_work").exists()
    job = json.loads((out / "_photoscore_batch.json").read_text())
    assert job["duplicates"]["buckets"]["tables"] == Buckets.for_photos(21).tables
    assert job["duplicates"]["resumed_steps"][0] == "keys"

    hash_only = photoscore(*command[3:], "--duplicate-tables", "0", env=cluster.env)
    assert hash_only.returncode == 0, hash_only.stderr
    job = json.loads((out / "_photoscore_batch.json").read_text())
    assert job["duplicates"]["buckets"]["tables"] == 0 and job["duplicates"]["buckets"]["bits"] == 12
    assert set(pairs_of(out)) < planted  # the pHash bands alone miss the cropped copy

    longer = photoscore(*command[3:], "--duplicate-bits", "14", env=cluster.env)
    assert longer.returncode == 0, longer.stderr
    job = json.loads((out / "_photoscore_batch.json").read_text())
    assert job["duplicates"]["buckets"] == asdict(Buckets.for_photos(21, bits=14))  # tables sized for 14 bits
    assert set(pairs_of(out)) <= planted


def test_a_killed_review_resumes_exactly_once(cluster, photo_server, tmp_path: Path):
    """SIGKILL the driver of `batch --review` once some shards are reviewed; the rerun reviews the rest."""
    rows, command, out = paced_job(tmp_path, photo_server)
    command += ["--review"]
    driver = subprocess.Popen(command, env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_a_part(out / "_scored", driver, seconds=150)
    before = kill_and_settle(driver, out / "_scored")
    assert 1 <= len(before) < 8
    done = sum(pq.read_metadata(out / "_scored" / name).num_rows for name in before)

    rerun = photoscore(*command[3:], env=cluster.env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"This run: {len(rows) - done} photos" in rerun.stderr and f"{done} already done" in rerun.stderr
    result = read_output(str(out))
    assert [r["input_row"] for r in result] == list(range(len(rows)))
    assert [r["path"] for r in result] == rows
    assert all(r["error"] is None and len(r["phash"]) == 16 and len(r["embedding"]) == 1280 for r in result)
    assert not (out / "_scored").exists()
    assert sum(r["photos"] for r in listings_of(out).values()) == len(rows)
