"""``photoscore data``: the ava, from-mos, split and stats commands on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photoscore.cli.data import data_app
from photoscore.data.ava import REJECTED_FILE, SUMMARY_FILE, TEST_FILE, TRAIN_FILE
from photoscore.labels import LabelEntry, read_labels, write_labels

runner = CliRunner()


def ava_file(path: Path, n: int = 40) -> Path:
    """n rows (ids 100..); every other row is Interior (tag 6) in column 2, the rest Sky (7)."""
    lines = [
        f"{i + 1} {100 + i} {' '.join(str((i + k) % 6) for k in range(10))} 7 {6 if i % 2 else 0} 1"
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def invoke(*args: str | Path):
    return runner.invoke(data_app, [str(a) for a in args])


def test_ava_all_and_interior_share_the_test_ids(tmp_path: Path) -> None:
    ava = ava_file(tmp_path / "AVA.txt")
    result = invoke("ava", "--ava-txt", ava, "--out", tmp_path / "all", "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "Wrote " in result.output and SUMMARY_FILE in result.output
    result = invoke("ava", "--ava-txt", ava, "--out", tmp_path / "int", "--category", "Interior", "--seed", 3)
    assert result.exit_code == 0, result.output
    assert "Interior (6): " in result.output
    all_test = {e.image_id for e in read_labels(tmp_path / "all" / TEST_FILE)}
    int_train, int_test = (read_labels(tmp_path / "int" / name) for name in (TRAIN_FILE, TEST_FILE))
    assert len(int_train) + len(int_test) == 20
    assert {e.image_id for e in int_test} == {i for i in all_test if int(i) % 2 == 1}
    assert json.loads((tmp_path / "int" / SUMMARY_FILE).read_text())["selected_rows"] == 20


def test_ava_official_split_and_category_lists(tmp_path: Path) -> None:
    ava = ava_file(tmp_path / "AVA.txt")
    (tmp_path / "test.jpgl").write_text("100\n101\n")
    (tmp_path / "tags.txt").write_text("6 Interior\n7 Sky\n")
    result = invoke(
        "ava", "--ava-txt", ava, "--tags", tmp_path / "tags.txt", "--category", "6,sky",
        "--split", "official", "--test-list", tmp_path / "test.jpgl", "--out", tmp_path / "out",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [e.image_id for e in read_labels(tmp_path / "out" / TEST_FILE)] == ["100", "101"]
    assert len(read_labels(tmp_path / "out" / TRAIN_FILE)) == 38


def test_ava_reports_malformed_lines_with_numbers(tmp_path: Path) -> None:
    ava = ava_file(tmp_path / "AVA.txt", 10)
    ava.write_text(ava.read_text() + "11 111 1 2 3\n12 112 a 1 1 1 1 1 1 1 1 1 0 0 1\n")
    result = invoke("ava", "--ava-txt", ava, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Skipped 2 of 12 lines" in result.output
    assert "line 11: expected 15 columns, found 5" in result.output
    assert "line 12: column 3 ('a') is not a whole number" in result.output


def test_ava_image_checks_write_the_rejected_ids(tmp_path: Path) -> None:
    ava = ava_file(tmp_path / "AVA.txt", 4)
    images = tmp_path / "img"
    images.mkdir()
    Image.new("RGB", (16, 16)).save(images / "100.jpg")
    (images / "101.jpg").write_bytes(b"not a jpeg")
    result = invoke("ava", "--ava-txt", ava, "--image-dir", images, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Rejected 3 images" in result.output
    rejected = (tmp_path / "out" / REJECTED_FILE).read_text().splitlines()
    assert rejected[0] == "image_id,reason" and len(rejected) == 4
    result = invoke("ava", "--ava-txt", ava, "--image-dir", tmp_path, "--out", tmp_path / "none")
    assert result.exit_code == 1 and "every image was rejected" in result.output
    result = invoke("ava", "--ava-txt", ava, "--image-dir", tmp_path / "absent", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "does not exist" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "official"], "--split official needs --test-list"),
        (["--test-list", "x.jpgl"], "--test-list is used by --split official only"),
        (["--category", "Interiors"], "did you mean Interior"),
        (["--test-fraction", "1.5"], "between 0 and 1"),
    ],
)
def test_ava_argument_errors(tmp_path: Path, args: list[str], message: str) -> None:
    ava = ava_file(tmp_path / "AVA.txt", 5)
    result = invoke("ava", "--ava-txt", ava, "--out", tmp_path / "out", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out" / TRAIN_FILE).exists()


def test_ava_missing_file(tmp_path: Path) -> None:
    result = invoke("ava", "--ava-txt", tmp_path / "nope.txt", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "nope.txt" in result.output


def test_from_mos_writes_a_valid_label_file(tmp_path: Path) -> None:
    csv_path = tmp_path / "mos.csv"
    csv_path.write_text("image,mos,mos_std\n3.webp,44.4,20.3\n7.webp,4.9,9.4\n")
    out = tmp_path / "labels" / "livec.json"
    result = invoke(
        "from-mos", "--csv", csv_path, "--image-column", "image", "--mos-column", "mos",
        "--std-column", "mos_std", "--scale", "0-100", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entries = read_labels(out)
    assert [e.image_id for e in entries] == ["3", "7"]
    assert entries[0].mean == pytest.approx(1 + 44.4 * 0.09, abs=0.01)


def test_from_mos_errors(tmp_path: Path) -> None:
    csv_path = tmp_path / "mos.csv"
    csv_path.write_text("image,mos\n1.jpg,7\n")
    base = [
        "from-mos",
        "--csv",
        csv_path,
        "--image-column",
        "image",
        "--mos-column",
        "mos",
        "--out",
        tmp_path / "o.json",
    ]
    result = invoke(*base, "--scale", "1-5")
    assert result.exit_code == 2 and "line 2: 7 is outside the scale 1..5" in result.output
    result = invoke(*base, "--scale", "five")
    assert result.exit_code == 2 and "expected 0-100, 1-5 or min,max" in result.output
    assert not (tmp_path / "o.json").exists()


def test_split_and_stats(tmp_path: Path) -> None:
    labels = tmp_path / "mine.json"
    write_labels(labels, [LabelEntry(str(i), (1.0,) * 9 + (float(i),)) for i in range(50)])
    result = invoke("split", labels, "--test-fraction", "0.2", "--seed", "1", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    train, test = (
        read_labels(tmp_path / "s" / "mine_train.json"),
        read_labels(tmp_path / "s" / "mine_test.json"),
    )
    assert (len(train), len(test)) == (40, 10)
    result = invoke("stats", labels)
    assert result.exit_code == 0, result.output
    assert "images: 50" in result.stdout and "votes: 1675 in all" in result.stdout
    assert "mean-score histogram" in result.stdout
    stats = json.loads(invoke("stats", labels, "--json").stdout)
    assert stats["count"] == 50 and sum(stats["histogram"]) == 50


def test_bad_label_files_name_the_entry(tmp_path: Path) -> None:
    labels = tmp_path / "bad.json"
    labels.write_text(json.dumps([{"image_id": "../x", "label": [1] * 10}]))
    for args in (["stats", labels], ["split", labels, "--out", tmp_path]):
        result = invoke(*args)
        assert result.exit_code == 2
        assert "entry 0 (image_id '../x')" in result.output


def test_help_lists_the_four_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("ava", "from-mos", "split", "stats"):
        assert command in result.output
