"""Listings: groups, per-group normalisation and ranking, edge cases, streaming, and Scorer.rank."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from photoscore.scoring.engine import Scorer
from photoscore.scoring.listing import (
    ManifestError,
    Ranking,
    group_labels,
    normalize_each,
    rank_groups,
    rank_in_place,
    read_manifest,
    score_groups,
)
from photoscore.scoring.normalize import Normalizer
from photoscore.scoring.results import ScoreResult


def scored(name: str, mean: float) -> ScoreResult:
    return ScoreResult(
        image_id=name, path=f"/p/{name}.jpg", mean_score_prediction=mean, std_score_prediction=1.0
    )


def failed(name: str) -> ScoreResult:
    return ScoreResult(image_id=name, path=f"/p/{name}.jpg", error="truncated or corrupt image data")


def outcome(results: list[ScoreResult]) -> list[tuple[float | None, int | None]]:
    return [(r.normalized_score, r.rank) for r in results]


def test_minmax_and_ranks_within_a_group_by_hand():
    group = [scored("a", 5.0), scored("b", 6.0), failed("x"), scored("c", 5.0), scored("d", 4.0)]
    rank_in_place(group, "minmax", scale="0-100")
    assert outcome(group) == [(50.0, 2), (100.0, 1), (None, None), (50.0, 2), (0.0, 4)]
    assert group[2].error == "truncated or corrupt image data"


def test_a_failed_photo_does_not_move_the_others():
    with_failure = [scored("a", 5.5), failed("x"), scored("b", 7.0), scored("c", 4.0)]
    without = [scored("a", 5.5), scored("b", 7.0), scored("c", 4.0)]
    for method in ("minmax", "zscore", "percentile", "none"):
        rank_in_place(with_failure, method)
        rank_in_place(without, method)
        assert outcome([with_failure[0], *with_failure[2:]]) == outcome(without), method
        assert outcome([with_failure[1]]) == [(None, None)]


@pytest.mark.parametrize("method", ["minmax", "zscore", "percentile"])
def test_one_photo_or_equal_scores_are_defined(method):
    alone = [scored("a", 6.2)]
    rank_in_place(alone, method)
    assert outcome(alone) == [(0.5, 1)]
    equal = [scored("a", 5.0), scored("b", 5.0), scored("c", 5.0)]
    (ranking,) = rank_groups(equal, ["L1"] * 3, method)
    assert outcome(ranking.results) == [(0.5, 1)] * 3
    assert ranking.cover is equal[0]  # the first in input order


def test_scores_equal_at_written_precision_rank_equal():
    group = [scored("a", 5.0000001), scored("b", 5.0000002), scored("c", 4.0)]
    rank_in_place(group, "minmax")
    assert outcome(group) == [(1.0, 1), (1.0, 1), (0.0, 3)]


def test_only_failures_leave_a_group_unranked():
    (ranking,) = rank_groups([failed("x"), failed("y")], ["L"] * 2)
    assert ranking.cover is None and outcome(ranking.results) == [(None, None)] * 2
    assert ranking.title == "listing L: 2 photos"


def test_groups_normalise_separately_and_results_keep_input_order():
    results = [scored("a1", 4.0), scored("b1", 9.0), scored("a2", 6.0), scored("b2", 8.0), scored("b3", 8.5)]
    groups = ["A", "B", "A", "B", "B"]
    out = list(score_groups(results, groups, "minmax"))
    assert [r.image_id for r in out] == ["a1", "b1", "a2", "b2", "b3"]
    assert [r.group for r in out] == groups
    assert outcome(out) == [(0.0, 2), (1.0, 1), (1.0, 1), (0.0, 3), (0.5, 2)]


def test_results_leave_when_their_group_is_complete():
    """Photos given group by group: a group's results come out before the next group is read."""
    consumed: list[str] = []

    def stream():
        for name, mean in (("a1", 5.0), ("a2", 6.0), ("b1", 7.0), ("b2", 3.0)):
            consumed.append(name)
            yield scored(name, mean)

    out = score_groups(stream(), ["A", "A", "B", "B"])
    assert [next(out).image_id, next(out).image_id] == ["a1", "a2"]
    assert consumed == ["a1", "a2"]
    assert [r.image_id for r in out] == ["b1", "b2"]


def test_rankings_best_first_with_cover_and_flags():
    results = [scored("a", 5.0), failed("x"), scored("b", 6.5), scored("c", 4.2), scored("d", 4.4)]
    (ranking,) = rank_groups(results, [None] * 5, "percentile", scale="0-100")
    assert isinstance(ranking, Ranking) and ranking.group is None
    assert [r.image_id for r in ranking.results] == ["b", "a", "d", "c", "x"]
    assert ranking.cover is not None and ranking.cover.image_id == "b"
    assert [r.image_id for r in ranking.flagged(4.5)] == ["d", "c"]
    assert ranking.title == "all photos: 5 photos"


def test_a_fitted_normaliser_is_used_instead_of_the_group():
    fitted = Normalizer.fit("minmax", [4.0, 8.0])
    group = [scored("a", 5.0), scored("b", 6.0)]
    rank_in_place(group, normalizer=fitted, scale="0-100")
    assert outcome(group) == [(25.0, 2), (50.0, 1)]
    streamed = list(normalize_each([scored("c", 7.0), failed("x")], fitted, "0-10"))
    assert outcome(streamed) == [(7.5, None), (None, None)]


def test_group_labels(tmp_path):
    paths = [
        tmp_path / "a" / "L1" / "x.jpg",
        tmp_path / "b" / "L1" / "y.jpg",
        tmp_path / "a" / "L2" / "z.jpg",
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    # two folders named L1: their paths tell them apart; L2 is unique: its name is the listing id
    assert group_labels(paths, "parent") == [str(paths[0].parent), str(paths[1].parent), "L2"]
    assert group_labels(paths, "none") == [None] * 3
    assert group_labels(paths, ["x", "y", "x"]) == ["x", "y", "x"]
    with pytest.raises(ValueError, match="3 group labels"):
        group_labels(paths, ["x"])
    with pytest.raises(ValueError, match="unknown grouping"):
        group_labels(paths, "folder")  # type: ignore[arg-type]


def test_manifest(tmp_path):
    manifest = tmp_path / "lists" / "listings.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "\ufeffpath,listing_id,note\nphotos/a.jpg,L1,x\n/abs/b.jpg,L2,\n photos/c.jpg , L1 ,\n",
        encoding="utf-8",
    )
    photos, labels = read_manifest(manifest)
    assert photos == [manifest.parent / "photos/a.jpg", Path("/abs/b.jpg"), manifest.parent / "photos/c.jpg"]
    assert labels == ["L1", "L2", "L1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("id,path\nL1,a.jpg\n", "no column listing_id"), ("listing_id,path\nL1,a.jpg\n,b.jpg\n", "line 3")],
)
def test_bad_manifests_say_why(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(ManifestError, match=message):
        read_manifest(manifest)
    with pytest.raises(ManifestError, match="cannot read"):
        read_manifest(tmp_path / "absent.csv")


def test_scorer_rank_on_real_photos(tmp_path, photo_dir, colour_model):
    listings = {"L1": ["chelsea", "coffee"], "L2": ["astronaut", "rocket"]}
    paths = []
    for listing, names in listings.items():
        (tmp_path / listing).mkdir()
        for name in names:
            paths.append(Path(shutil.copy(photo_dir / f"{name}.jpg", tmp_path / listing)))
    broken = tmp_path / "L2" / "broken.jpg"
    broken.write_bytes(b"not a photo")
    paths.append(broken)
    scorer = Scorer([colour_model()])
    means = {r.path: r.mean_score_prediction for r in scorer.score(paths)}
    rankings = scorer.rank(paths, scale="0-100")
    assert [r.group for r in rankings] == ["L1", "L2"]
    for ranking in rankings:
        ok = [r for r in ranking.results if r.ok]
        assert [r.mean_score_prediction for r in ok] == sorted((means[r.path] for r in ok), reverse=True)
        assert [(r.rank, r.normalized_score) for r in ok] == [(1, 100.0), (2, 0.0)]
    assert rankings[1].results[-1].path == str(broken) and rankings[1].results[-1].error
    (together,) = scorer.rank(paths, group_by="none", normalize="percentile")
    assert [r.rank for r in together.results] == [1, 2, 3, 4, None]
