"""The listing method from the command line: a real process, real photos, real model files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_cli import photoscore

LISTINGS = {"L1": ["chelsea", "coffee", "rocket"], "L2": ["astronaut"]}


@pytest.fixture
def listings(tmp_path: Path, photo_dir: Path) -> Path:
    """listings/L1 (three photos and a broken file), listings/L2 (one photo)."""
    root = tmp_path / "listings"
    for listing, names in LISTINGS.items():
        (root / listing).mkdir(parents=True)
        for name in names:
            (root / listing / f"{name}.jpg").write_bytes((photo_dir / f"{name}.jpg").read_bytes())
    (root / "L1" / "broken.jpg").write_bytes(b"not a photo")
    return root


@pytest.fixture
def models(colour_model) -> list[Path]:
    return [colour_model("a", seed=1), colour_model("b", input_size=(24, 40), seed=2)]


def model_args(models: list[Path]) -> list[str | Path]:
    return [arg for m in models for arg in ("-m", m)]


def test_score_ranks_within_each_folder(listings, models):
    run = photoscore("score", listings, "-r", *model_args(models), "--normalize", "minmax", "--scale", "0-100",
                     "--model-weights", "3,1", "--ensemble", "mean", "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = json.loads(run.stdout)
    assert [Path(r["path"]).stem for r in records] == ["broken", "chelsea", "coffee", "rocket", "astronaut"]
    assert [r["group"] for r in records] == ["L1"] * 4 + ["L2"]
    broken, *l1, l2 = records
    assert broken["error"] and broken["rank"] is None and broken["normalized_score"] is None
    assert sorted(r["rank"] for r in l1) == [1, 2, 3]
    best = min(l1, key=lambda r: r["rank"])
    assert best["normalized_score"] == 100.0 and best["mean_score_prediction"] == max(
        r["mean_score_prediction"] for r in l1
    )
    assert (l2["rank"], l2["normalized_score"]) == (1, 50.0)  # one photo: rank 1, the middle of the scale
    for record in l1:
        means = record["models"]
        assert record["mean_score_prediction"] == pytest.approx(
            0.75 * means["a"]["mean"] + 0.25 * means["b"]["mean"], abs=2e-6
        )
        assert record["std_score_prediction"] == pytest.approx(
            0.75 * means["a"]["std"] + 0.25 * means["b"]["std"], abs=2e-6
        )


def test_manifest_groups_and_csv_columns(listings, models, tmp_path):
    manifest = tmp_path / "listings.csv"
    rows = ["listing_id,path", "X,listings/L1/chelsea.jpg", "Y,listings/L2/astronaut.jpg",
            "X,listings/L1/coffee.jpg", "Y,listings/L1/rocket.jpg"]  # fmt: skip
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "scores.csv"
    run = photoscore(
        "score", "--manifest", manifest, *model_args(models), "--normalize", "percentile", "-o", out
    )
    assert run.returncode == 0, run.stderr
    table = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(table[0])[-4:] == ["normalized_score", "rank", "group", "error"]
    assert [(Path(r["path"]).stem, r["group"]) for r in table] == [
        ("chelsea", "X"), ("astronaut", "Y"), ("coffee", "X"), ("rocket", "Y")
    ]  # fmt: skip
    for group in ("X", "Y"):
        pair = [r for r in table if r["group"] == group]
        assert sorted(float(r["normalized_score"]) for r in pair) == [0.25, 0.75]
        assert sorted(r["rank"] for r in pair) == ["1", "2"]


def test_fitted_normaliser_makes_batches_comparable(listings, models, tmp_path):
    norm = tmp_path / "norm.json"
    fit = photoscore("normalizer", "fit", listings, "-r", *model_args(models), "--out", norm)
    assert fit.returncode == 0, fit.stderr
    fitted = json.loads(norm.read_text())
    assert fitted["method"] == "percentile" and fitted["models"] == ["a", "b"] and fitted["count"] == 4
    reference = fitted["params"]["scores"]
    run = photoscore("score", listings / "L2", *model_args(models), "--normalizer", norm, "--json")
    assert run.returncode == 0, run.stderr
    (record,) = json.loads(run.stdout)
    below = sum(s < record["mean_score_prediction"] for s in reference)
    equal = sum(s == record["mean_score_prediction"] for s in reference)
    assert record["normalized_score"] == pytest.approx((below + equal / 2) / 4, abs=1e-6)
    assert record["rank"] == 1  # ranked within its listing, normalised against the reference
    streamed = photoscore("score", listings / "L1", *model_args(models), "--normalizer", norm,
                          "--group-by", "none", "--json")  # fmt: skip
    assert all(r["rank"] is None for r in json.loads(streamed.stdout))
    other = photoscore("score", listings / "L2", "-m", models[0], "--normalizer", norm)
    assert other.returncode == 2 and "fitted on scores of models ['a', 'b']" in other.stderr


def test_rank_prints_best_first_names_cover_flags_and_writes_sheet(listings, models, tmp_path):
    sheet = tmp_path / "sheet.html"
    run = photoscore("rank", listings, "-r", *model_args(models), "--flag-below", "10", "--html", sheet)
    assert run.returncode == 0, run.stderr
    blocks = run.stdout.strip().split("\n\n")
    assert [b.splitlines()[0].split(",")[0] for b in blocks] == [
        "listing L1: 4 photos",
        "listing L2: 1 photo",
    ]
    lines = blocks[0].splitlines()[2:]
    assert [line.split()[0] for line in lines] == ["1", "2", "3", "-"]
    assert lines[0].endswith("cover  flagged: below 10") and "broken.jpg" in lines[-1]
    cover_path = lines[0].split()[5]
    assert blocks[0].splitlines()[0] == f"listing L1: 4 photos, cover {cover_path}"
    html = sheet.read_text(encoding="utf-8")
    positions = [html.index(f'data-path="{line.split()[5]}"') for line in lines[:3]]
    assert positions == sorted(positions)
    assert "Listings: 2; photos flagged below 10: 4." in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "{listings}", "--manifest", "{listings}/m.csv"], "give no photo paths"),
        (
            ["score", "{listings}", "-r", "-m", "{model}", "--model-weights", "1,2"],
            "one weight per model: expected 1, got 2",
        ),
        (["score", "--manifest", "{listings}/absent.csv", "-m", "{model}"], "cannot read the manifest"),
        (["score", "{listings}", "-r", "-m", "{model}", "--normalize", "robust"], "robust"),
        (["rank", "{listings}", "-m", "{model}"], "with -r"),
    ],
)
def test_wrong_arguments_exit_2_or_1(args, message, listings, models):
    run = photoscore(*[a.format(listings=listings, model=models[0]) for a in args])
    assert run.returncode in (1, 2) and message in run.stderr, run.stderr
