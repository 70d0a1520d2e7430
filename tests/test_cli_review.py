"""`photoscore review` as a user runs it: a real process, the bundled models, real photos."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from test_cli import photoscore

from photoscore.review.rooms import ROOMS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    """One listing folder: the example photos (two of them flawed copies of coffee.jpg) and a broken file."""
    folder = tmp_path / "L1"
    folder.mkdir()
    for photo in EXAMPLES.glob("*.jpg"):
        shutil.copy(photo, folder / photo.name)
    (folder / "broken.jpg").write_bytes(b"not a photo")
    return folder


def by_name(records: list[dict]) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in records}


def test_review_writes_photos_and_listings_with_checks_reasons_and_order(listing, tmp_path):
    out = tmp_path / "review.json"
    run = photoscore("review", listing, "-o", out, "--html", tmp_path / "sheet.html")
    assert run.returncode == 0, run.stderr
    photos = by_name(json.loads(out.read_text()))
    listings = json.loads((tmp_path / "review.listings.json").read_text())
    assert len(photos) == 7 and len(listings) == 1
    dark, blurred, coffee = photos["coffee-dark.jpg"], photos["coffee-blurred.jpg"], photos["coffee.jpg"]
    assert dark["checks"]["dark"]["verdict"] == "fail"
    assert dark["checks"]["dark"]["value"] < dark["checks"]["dark"]["threshold"]
    assert any("brightest 1% of pixels" in reason for reason in dark["reasons"])
    assert blurred["checks"]["sharpness"]["verdict"] == "fail" and "blurry" in " ".join(blurred["reasons"])
    assert coffee["failed_checks"] == [] and coffee["reasons"] == []
    assert photos["broken.jpg"]["error"] and photos["broken.jpg"]["position"] is None
    for record in photos.values():
        if record["error"] is None:
            assert record["room"] in ROOMS
            assert 0 < record["room_probability"] <= 1
            assert (record["width"], record["height"]) == Image.open(record["path"]).size
            assert len(record["phash"]) == 16
    summary = listings[0]
    order = summary["order"]
    assert len(order) == 6 and summary["cover"] == order[0]
    assert photos[Path(summary["cover"]).name]["cover"] is True
    assert [photos[Path(p).name]["position"] for p in order] == list(range(1, 7))
    # Photos that fail a check come after those that pass.
    failing = [photos[Path(p).name]["failed_checks"] != [] for p in order]
    assert failing == sorted(failing)
    assert summary["verdicts"]["cover"] == "pass"
    sheet = (tmp_path / "sheet.html").read_text()
    assert "brightest 1% of pixels" in sheet and "data-room=" in sheet
    assert "Listings: 1" in run.stderr


def test_csv_has_one_row_per_photo_with_a_column_per_check(listing, tmp_path):
    out = tmp_path / "review.csv"
    run = photoscore("review", listing, "-o", out)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 7
    dark = next(r for r in rows if r["path"].endswith("coffee-dark.jpg"))
    assert dark["dark.verdict"] == "fail" and float(dark["dark.value"]) < float(dark["dark.threshold"])
    assert "brightest 1% of pixels" in dark["reasons"]
    listings = list(csv.DictReader((tmp_path / "review.listings.csv").open()))
    assert listings[0]["verdict.cover"] == "pass"


def test_a_preset_judges_size_orientation_and_the_listing(listing, tmp_path):
    portrait = Image.open(EXAMPLES / "coffee.jpg").rotate(90, expand=True)
    portrait.save(listing / "portrait.jpg", quality=92)
    run = photoscore("review", listing, "--preset", "vrbo", "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    photos = by_name(result["photos"])
    size = photos["coffee.jpg"]["checks"]["size"]
    # The short edge falls shortest: 400 of 683.
    assert size["verdict"] == "fail" and (size["value"], size["threshold"]) == (400, 683)
    assert "1024x683" in " ".join(photos["coffee.jpg"]["reasons"])
    assert photos["portrait.jpg"]["checks"]["orientation"]["verdict"] == "fail"
    listing_result = result["listings"][0]
    assert listing_result["preset"] == "vrbo" and listing_result["min_photos"] == 6
    assert listing_result["verdicts"]["photo_count"] == "fail"  # every photo is below 1024x683
    assert "exterior" in listing_result["missing_rooms"]
    relaxed = json.loads(photoscore("review", listing, "--json").stdout)
    assert by_name(relaxed["photos"])["coffee.jpg"]["checks"]["size"]["verdict"] == "pass"


def test_a_platform_file_and_bad_arguments(listing, tmp_path):
    rules = tmp_path / "mls.json"
    rules.write_text(json.dumps({"min_size": [500, 300], "min_photos": 2, "required_rooms": []}))
    run = photoscore("review", listing, "--preset-file", rules, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["listings"][0]["preset"] == "mls"
    bad = tmp_path / "bad.json"
    bad.write_text('{"required_rooms": ["garage"]}')
    refused = photoscore("review", listing, "--preset-file", bad)
    assert refused.returncode == 2 and "unknown room 'garage'" in refused.stderr
    assert photoscore("review", listing, "--preset", "craigslist").returncode == 2
    assert photoscore("review", listing, "-o", tmp_path / "x.txt").returncode == 2


def test_nothing_reviewable_exits_1(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"nope")
    run = photoscore("review", tmp_path)
    assert run.returncode == 1
    assert "could not be scored" in run.stderr
