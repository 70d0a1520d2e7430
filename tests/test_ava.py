"""AVA.txt (+ tags.txt, generic_test.jpgl) to label files, on small files built here."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from photoscore.data.ava import (
    AVA_TAGS,
    REJECTED_FILE,
    SUMMARY_FILE,
    TEST_FILE,
    TRAIN_FILE,
    AvaError,
    convert_ava,
    parse_ava_line,
    read_tags,
    read_test_list,
    resolve_categories,
)
from photoscore.labels import LabelEntry, read_labels, split_labels

INTERIOR, ARCHITECTURE = 6, 20


def ava_line(index: int, image_id: int, tags: tuple[int, int] = (0, 0), votes: int = 1) -> str:
    counts = [(image_id + k) % 5 * votes for k in range(10)]
    return f"{index} {image_id} {' '.join(map(str, counts))} {tags[0]} {tags[1]} {1000 + index}"


def write_ava(path: Path, n: int, tag_of: dict[int, tuple[int, int]] | None = None) -> Path:
    """n rows with ids 100..; every 3rd row is Interior in column 1, every 5th in column 2."""
    lines = []
    for i in range(n):
        tags = (INTERIOR if i % 3 == 0 else 1, INTERIOR if i % 5 == 0 else 0)
        lines.append(ava_line(i + 1, 100 + i, (tag_of or {}).get(100 + i, tags)))
    path.write_text("\n".join(lines) + "\n")
    return path


def labels(out: Path, name: str) -> list[LabelEntry]:
    return read_labels(out / name)


def ids(entries: list[LabelEntry]) -> set[str]:
    return {e.image_id for e in entries}


def test_parse_line_has_the_exact_column_layout() -> None:
    row = parse_ava_line("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n")
    assert row.image_id == "953619"
    assert row.counts == (0, 1, 5, 17, 38, 36, 15, 6, 5, 1)
    assert row.tags == (1, 22)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 953619 0 1 5 17 38 36 15 6 5 1 1 22", "expected 15 columns, found 14"),
        ("1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396 7", "expected 15 columns, found 16"),
        ("1 953619 0 1 5 17 x 36 15 6 5 1 1 22 1396", "column 7 ('x') is not a whole number"),
        ("1 953619 0 1 5 17 3.5 36 15 6 5 1 1 22 1396", "column 7 ('3.5') is not a whole number"),
        ("1 abc 0 1 5 17 38 36 15 6 5 1 1 22 1396", "column 2 ('abc')"),
        ("1 953619 0 1 5 17 -38 36 15 6 5 1 1 22 1396", "negative vote count"),
        ("1 953619 0 0 0 0 0 0 0 0 0 0 1 22 1396", "no votes"),
    ],
)
def test_parse_line_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_ava_line(text)


def test_random_split_writes_both_files_and_a_summary(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 200)
    summary = convert_ava(ava, tmp_path / "out", test_fraction=0.1, seed=1)
    train, test = labels(tmp_path / "out", TRAIN_FILE), labels(tmp_path / "out", TEST_FILE)
    assert (len(train), len(test)) == (180, 20)
    assert train[0] == LabelEntry("100", tuple(float(k % 5) for k in range(100, 110)))
    assert summary.valid_rows == summary.selected_rows == 200 and summary.problem_count == 0
    written = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text())
    assert written["splits"]["train"]["count"] == 180 and written["splits"]["test"]["count"] == 20
    interior = next(t for t in written["tags"] if t["id"] == INTERIOR)
    assert interior["name"] == "Interior" and interior["train"] + interior["test"] == 200 // 3 + 1 + 40 - 14
    assert not (tmp_path / "out" / REJECTED_FILE).exists()


def test_random_split_is_the_split_of_labels_and_depends_on_the_seed(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 150)
    convert_ava(ava, tmp_path / "a", test_fraction=0.2, seed=5)
    train, test = labels(tmp_path / "a", TRAIN_FILE), labels(tmp_path / "a", TEST_FILE)
    assert split_labels(train + test, 0.2, seed=5)[1] == sorted(test, key=lambda e: int(e.image_id))
    convert_ava(ava, tmp_path / "b", test_fraction=0.2, seed=6)
    assert ids(labels(tmp_path / "b", TEST_FILE)) != ids(test)


def test_category_files_hold_the_category_and_share_the_full_test_ids(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 300)
    convert_ava(ava, tmp_path / "all", seed=2)
    summary = convert_ava(ava, tmp_path / "interior", categories={INTERIOR: "Interior"}, seed=2)
    all_test = ids(labels(tmp_path / "all", TEST_FILE))
    interior_ids = {str(100 + i) for i in range(300) if i % 3 == 0 or i % 5 == 0}
    train, test = labels(tmp_path / "interior", TRAIN_FILE), labels(tmp_path / "interior", TEST_FILE)
    assert ids(train) | ids(test) == interior_ids  # tag 6 in either column
    assert ids(test) == all_test & interior_ids
    assert summary.selected_rows == len(interior_ids)


def test_several_categories_by_name_or_id(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 10, tag_of={100: (ARCHITECTURE, 0), 101: (0, 7), 102: (3, 0)})
    categories = resolve_categories(["interior", "20", "Sky"], AVA_TAGS)
    assert categories == {INTERIOR: "Interior", ARCHITECTURE: "Architecture", 7: "Sky"}
    convert_ava(ava, tmp_path / "out", categories=categories, test_fraction=0.3)
    written = ids(labels(tmp_path / "out", TRAIN_FILE) + labels(tmp_path / "out", TEST_FILE))
    assert {"100", "101"} <= written and "102" not in written


def test_unknown_category_suggests_names() -> None:
    with pytest.raises(AvaError, match="unknown AVA category 'Interiors'; did you mean Interior"):
        resolve_categories(["Interiors"], AVA_TAGS)
    with pytest.raises(AvaError, match="'99'"):
        resolve_categories(["99"], AVA_TAGS)


def test_a_category_without_rows_writes_nothing(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 10)
    with pytest.raises(AvaError, match=r"no valid AVA row has the category Sky \(7\)"):
        convert_ava(ava, tmp_path / "out", categories={7: "Sky"})
    assert list((tmp_path / "out").iterdir()) == []


def test_official_split_uses_the_test_list(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 50)
    test_list = tmp_path / "generic_test.jpgl"
    test_list.write_text("100\n105.jpg\n\n149\n999999\n")
    summary = convert_ava(ava, tmp_path / "out", split="official", test_ids=read_test_list(test_list))
    assert ids(labels(tmp_path / "out", TEST_FILE)) == {"100", "105", "149"}
    assert len(labels(tmp_path / "out", TRAIN_FILE)) == 47
    assert (summary.test_list_ids, summary.test_list_not_in_ava) == (4, 1)
    with pytest.raises(AvaError, match="test list"):
        convert_ava(ava, tmp_path / "x", split="official")


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    good = [ava_line(i, 500 + i) for i in range(1, 7)]
    lines = [
        good[0],
        "2 502 0 1 5 17 38 36 15 6 5 1 1 22",  # line 2: 14 columns
        good[1],
        "",  # blank: ignored
        "4 504 0 1 5 17 oops 36 15 6 5 1 1 22 1396",  # line 5: not a number
        good[2],
        ava_line(7, 501),  # line 7: repeats the id of line 1
        "8 508 0 0 0 0 0 0 0 0 0 0 1 0 1",  # line 8: no votes
        good[3],
    ]
    ava = tmp_path / "AVA.txt"
    ava.write_text("\n".join(lines) + "\n")
    summary = convert_ava(ava, tmp_path / "out", test_fraction=0.25)
    assert [(p.line, p.problem) for p in summary.problems] == [
        (2, "expected 15 columns, found 14"),
        (5, "column 7 ('oops') is not a whole number"),
        (7, "duplicate image id (first on line 1)"),
        (8, "no votes"),
    ]
    assert summary.lines == 8 and summary.valid_rows == 4
    written = labels(tmp_path / "out", TRAIN_FILE) + labels(tmp_path / "out", TEST_FILE)
    assert sorted(e.image_id for e in written) == ["501", "502", "503", "504"]
    details = json.loads((tmp_path / "out" / SUMMARY_FILE).read_text())["skipped_line_details"]
    assert details[0] == {"line": 2, "problem": "expected 15 columns, found 14"}


def test_a_file_without_valid_rows_is_an_error(tmp_path: Path) -> None:
    ava = tmp_path / "AVA.txt"
    ava.write_text("image,mos\n1.jpg,50\n")
    with pytest.raises(AvaError, match=r"no valid AVA rows .*line 1: expected 15 columns"):
        convert_ava(ava, tmp_path / "out")


def test_tags_file(tmp_path: Path) -> None:
    tags = tmp_path / "tags.txt"
    tags.write_text("1 Abstract\n6 Interior\n65 Insects, etc\n\n")
    assert read_tags(tags) == {1: "Abstract", 6: "Interior", 65: "Insects, etc"}
    tags.write_text("1 Abstract\nInterior\n")
    with pytest.raises(AvaError, match="line 2"):
        read_tags(tags)


def test_built_in_tags_match_the_ava_list() -> None:
    assert len(AVA_TAGS) == 66
    assert {tag: AVA_TAGS[tag] for tag in (1, 6, 20, 66)} == {
        1: "Abstract", 6: "Interior", 20: "Architecture", 66: "Analog"
    }  # fmt: skip
    assert AVA_TAGS[37] == "Diptych / Triptych" and AVA_TAGS[65] == "Insects, etc"


def test_image_checks_reject_missing_and_corrupt_images(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 6)
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 24), "red").save(images / "100.jpg")
    Image.new("RGB", (32, 24), "blue").save(images / "101.PNG")
    Image.new("RGB", (32, 24), "green").save(images / "102.jpg")
    (images / "103.jpg").write_bytes((images / "102.jpg").read_bytes()[:200])  # truncated
    (images / "104.jpg").write_bytes(b"")
    summary = convert_ava(ava, tmp_path / "out", image_dir=images, workers=2, test_fraction=0.5)
    written = labels(tmp_path / "out", TRAIN_FILE) + labels(tmp_path / "out", TEST_FILE)
    assert ids(written) == {"100", "101", "102"}
    with open(tmp_path / "out" / REJECTED_FILE, newline="") as file:
        rejected = {row["image_id"]: row["reason"] for row in csv.DictReader(file)}
    assert set(rejected) == {"103", "104", "105"}
    assert rejected["105"] == "file not found"
    assert "empty" in rejected["104"] and "corrupt" in rejected["103"]
    assert summary.rejected_images == 3


def test_image_checks_with_a_fixed_format(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 2)
    Image.new("RGB", (8, 8)).save(tmp_path / "100.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "101.png")
    summary = convert_ava(ava, tmp_path / "out", image_dir=tmp_path, img_format="jpg", test_fraction=0.5)
    assert summary.rejected_images == 1


def test_progress_reaches_the_end(tmp_path: Path) -> None:
    ava = write_ava(tmp_path / "AVA.txt", 3000)
    calls: list[tuple[int, int]] = []
    convert_ava(ava, tmp_path / "out", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (2 * ava.stat().st_size, 2 * ava.stat().st_size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
