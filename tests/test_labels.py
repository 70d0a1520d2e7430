"""Label files: validation on read, writing, image paths, splits and statistics."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from photoscore.labels import (
    LabelEntry,
    LabelFileError,
    image_path,
    label_stats,
    labels_array,
    normalize_labels,
    read_labels,
    split_labels,
    strip_image_extension,
    write_labels,
)

AVA_LIKE = [2, 8, 19, 36, 76, 52, 16, 9, 3, 2]


def _write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _entries(n: int) -> list[LabelEntry]:
    return [LabelEntry(str(1000 + i), tuple(float((i + k) % 7) + 1 for k in range(10))) for i in range(n)]


def test_round_trip_keeps_counts_as_whole_numbers(tmp_path: Path) -> None:
    entries = [LabelEntry("231893", tuple(map(float, AVA_LIKE))), LabelEntry("a.b", (0.5,) + (0.5 / 9,) * 9)]
    path = tmp_path / "labels.json"
    assert write_labels(path, entries) == 2
    assert '"label": [2, 8, 19, 36, 76, 52, 16, 9, 3, 2]' in path.read_text()
    assert read_labels(path) == entries
    assert entries[0].mean == pytest.approx(np.dot(AVA_LIKE, np.arange(1, 11)) / sum(AVA_LIKE))


def test_reads_the_original_format(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "l.json", [{"image_id": "231893", "label": AVA_LIKE, "extra": 1}])
    [entry] = read_labels(path)
    assert entry == LabelEntry("231893", tuple(map(float, AVA_LIKE)))


def test_empty_list_is_valid(tmp_path: Path) -> None:
    assert read_labels(_write_json(tmp_path / "l.json", [])) == []
    write_labels(tmp_path / "empty.json", [])
    assert json.loads((tmp_path / "empty.json").read_text()) == []


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ([1] * 9, "10 numbers"),
        ([1] * 11, "10 numbers"),
        ([1] * 9 + [-1], "negative"),
        ([0] * 10, "sums to zero"),
        ([1] * 9 + ["2"], "numbers only"),
        ([1] * 9 + [True], "numbers only"),
        ([1] * 9 + [None], "numbers only"),
        ("1,2,3", "10 numbers"),
    ],
)
def test_bad_labels_name_the_entry_and_file(tmp_path: Path, label: object, message: str) -> None:
    data = [{"image_id": "ok", "label": AVA_LIKE}, {"image_id": "bad", "label": label}]
    path = _write_json(tmp_path / "l.json", data)
    with pytest.raises(LabelFileError, match=message) as info:
        read_labels(path)
    assert str(info.value).startswith(f"{path}: entry 1 (image_id 'bad'): ")


def test_nan_and_infinity_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    path.write_text('[{"image_id": "x", "label": [NaN, 1, 1, 1, 1, 1, 1, 1, 1, Infinity]}]')
    with pytest.raises(LabelFileError, match="NaN or infinity"):
        read_labels(path)


@pytest.mark.parametrize(
    "image_id", ["../x", "..", ".", "a/b", "/etc/passwd", "a\\b", "C:\\x", "C:x", "", "  ", "x\0y", 42, None]
)
def test_ids_that_could_leave_the_folder_are_rejected(tmp_path: Path, image_id: object) -> None:
    path = _write_json(tmp_path / "l.json", [{"image_id": image_id, "label": AVA_LIKE}])
    with pytest.raises(LabelFileError, match="entry 0"):
        read_labels(path)


def test_ids_with_dots_inside_are_fine(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "l.json", [{"image_id": "a..b.c", "label": AVA_LIKE}])
    assert read_labels(path)[0].image_id == "a..b.c"


def test_duplicates_and_every_problem_are_reported(tmp_path: Path) -> None:
    data = [
        {"image_id": "1", "label": AVA_LIKE},
        {"image_id": "2"},
        {"image_id": "1", "label": AVA_LIKE},
        "not an object",
    ]
    with pytest.raises(LabelFileError) as info:
        read_labels(_write_json(tmp_path / "l.json", data))
    problems = info.value.problems
    assert problems == [
        "entry 1 (image_id '2'): missing label",
        "entry 2 (image_id '1'): duplicate of entry 0",
        "entry 3: expected an object with image_id and label, got str",
    ]


def test_not_a_list_and_not_json(tmp_path: Path) -> None:
    with pytest.raises(LabelFileError, match="expected a JSON list"):
        read_labels(_write_json(tmp_path / "a.json", {"image_id": "1", "label": AVA_LIKE}))
    (tmp_path / "b.json").write_text("[{")
    with pytest.raises(LabelFileError, match="not valid JSON"):
        read_labels(tmp_path / "b.json")


def test_long_error_lists_are_shortened(tmp_path: Path) -> None:
    data = [{"image_id": str(i), "label": [0] * 10} for i in range(50)]
    with pytest.raises(LabelFileError) as info:
        read_labels(_write_json(tmp_path / "l.json", data))
    assert len(info.value.problems) == 50
    assert "and 30 more problems" in str(info.value)


def test_an_interrupted_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "l.json"
    path.write_text("old")

    def entries() -> Iterator[LabelEntry]:
        yield from _entries(3)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_labels(path, entries())
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_write_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "l.json"
    write_labels(path, _entries(3))
    assert len(read_labels(path)) == 3


def test_image_path_with_a_format(tmp_path: Path) -> None:
    assert image_path(tmp_path, "42", "jpg") == tmp_path / "42.jpg"
    assert image_path(tmp_path, "42", ".png") == tmp_path / "42.png"
    with pytest.raises(ValueError, match="separator"):
        image_path(tmp_path, "../42", "jpg")


@pytest.mark.parametrize("name", ["7.jpg", "7.JPG", "7.JpEg", "7.webp", "7.PNG", "7.tiff"])
def test_image_path_finds_any_supported_extension_in_any_case(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "7.txt").write_bytes(b"x")
    (tmp_path / "77.jpg").write_bytes(b"x")
    assert image_path(tmp_path, "7") == tmp_path / name


def test_image_path_missing_or_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "7.txt").write_bytes(b"x")
    (tmp_path / "7.jpg").mkdir()
    with pytest.raises(FileNotFoundError, match="no image 7"):
        image_path(tmp_path, "7")
    with pytest.raises(FileNotFoundError):
        image_path(tmp_path / "absent", "7")


def test_image_path_prefers_the_first_extension_in_sorted_order(tmp_path: Path) -> None:
    for name in ("5.png", "5.jpg", "5.webp"):
        (tmp_path / name).write_bytes(b"x")
    assert image_path(tmp_path, "5") == tmp_path / "5.jpg"


def test_strip_image_extension() -> None:
    assert strip_image_extension("3.webp") == "3"
    assert strip_image_extension("a.b.JPEG") == "a.b"
    assert strip_image_extension("a.b") == "a.b"
    assert strip_image_extension(".jpg") == ".jpg"
    assert strip_image_extension("953619") == "953619"


def test_split_is_exact_disjoint_and_deterministic() -> None:
    entries = _entries(200)
    train, test = split_labels(entries, 0.1, seed=3)
    assert len(test) == 20 and len(train) == 180
    assert {e.image_id for e in train} | {e.image_id for e in test} == {e.image_id for e in entries}
    assert not {e.image_id for e in train} & {e.image_id for e in test}
    assert split_labels(entries, 0.1, seed=3) == (train, test)
    assert [e.image_id for e in test] == sorted(e.image_id for e in test)  # input order is kept
    assert split_labels(entries, 0.1, seed=4)[1] != test


def test_split_does_not_depend_on_entry_order() -> None:
    entries = _entries(100)
    shuffled = entries[:]
    random.Random(0).shuffle(shuffled)
    ids = {e.image_id for e in split_labels(entries, 0.25, 7)[1]}
    assert {e.image_id for e in split_labels(shuffled, 0.25, 7)[1]} == ids


def test_split_of_small_sets_keeps_both_sides() -> None:
    assert split_labels(_entries(1), 0.5, 0) == (_entries(1), [])
    train, test = split_labels(_entries(2), 0.01, 0)
    assert len(train) == len(test) == 1
    assert len(split_labels(_entries(5), 0.99, 0)[0]) == 1


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_impossible_fractions(fraction: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_labels(_entries(10), fraction, 0)


def test_normalize_and_array() -> None:
    normalised = normalize_labels([LabelEntry("1", tuple(map(float, AVA_LIKE)))])
    assert sum(normalised[0].label) == pytest.approx(1.0)
    assert normalised[0].mean == pytest.approx(LabelEntry("1", tuple(map(float, AVA_LIKE))).mean)
    assert labels_array(normalised).shape == (1, 10)
    assert labels_array([]).shape == (0, 10)


def test_stats_of_vote_counts() -> None:
    low = LabelEntry("low", (10.0,) + (0.0,) * 9)  # mean 1
    high = LabelEntry("high", (0.0,) * 9 + (30.0,))  # mean 10
    mid = LabelEntry("mid", (0.0,) * 4 + (20.0,) + (0.0,) * 5)  # mean 5
    stats = label_stats([low, high, mid])
    assert stats.count == 3
    assert stats.histogram == (1, 0, 0, 0, 1, 0, 0, 0, 1)
    assert stats.mean_score_mean == pytest.approx(16 / 3)
    assert (stats.mean_score_min, stats.mean_score_max) == (1.0, 10.0)
    assert stats.std_score_mean == 0.0
    assert (stats.votes_total, stats.votes_per_image_min, stats.votes_per_image_max) == (60, 10, 30)
    assert stats.votes_per_image_mean == 20.0
    json.dumps(stats.to_dict())


def test_stats_of_probabilities_and_of_nothing() -> None:
    stats = label_stats(normalize_labels(_entries(4)))
    assert stats.count == 4 and stats.votes_total is None
    empty = label_stats([])
    assert empty.count == 0 and empty.mean_score_mean is None and sum(empty.histogram) == 0
    json.dumps(empty.to_dict())


def test_hash_folds_partition_the_entries_whatever_their_order():
    from photoscore.labels import LabelEntry, hash_folds

    entries = [LabelEntry(f"photo{i}", (1.0,) * 10) for i in range(103)]
    folds = hash_folds(entries, 5, seed=2026)
    assert sorted(len(f) for f in folds) == [20, 20, 21, 21, 21]
    assert sorted(e.image_id for f in folds for e in f) == sorted(e.image_id for e in entries)
    assert hash_folds(entries[::-1], 5, seed=2026) == folds
    assert hash_folds(entries, 5, seed=1) != folds
