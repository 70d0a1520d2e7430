"""PARA conversion on small PARA-shaped copies: vote distributions, train from means, scenes, links."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photoscore.cli.data import data_app
from photoscore.data.para import VOTE_COLUMNS, ParaError, convert_para, mean_to_score, votes_to_label
from photoscore.distribution import mean_score
from photoscore.labels import LabelFileError, image_path, parse_labels, read_labels

MEAN_FILE = "PARA_images_mean_score_greaterorequalthan_3_outier_removed.csv"
# name -> (session, votes for 1.0 .. 5.0 in half steps, scene); the first three form the test split
TEST_PHOTOS = {
    "iaa_pub1_": ("session1", [0, 0, 1, 2, 10, 8, 3, 1, 0], "indoor"),
    "iaa_pub2_": ("session1", [2, 5, 9, 6, 3, 0, 0, 0, 0], "building"),
    "iaa_pub3_": ("session2", [0, 0, 0, 0, 2, 4, 9, 7, 3], "portrait"),
}
TRAIN_MEANS = {"iaa_pub4_": 3.9, "iaa_pub5_": 2.2, "iaa_pub6_": 1.0}
SESSIONS = {"iaa_pub4_": "session2", "iaa_pub5_": "session3", "iaa_pub6_": "session3"}


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def vote_rows(photos: dict[str, tuple[str, list[int], str]]) -> list[list[object]]:
    rows = []
    for name, (session, votes, scene) in photos.items():
        mean = sum(v * (1 + 0.5 * i) for i, v in enumerate(votes)) / sum(votes)
        rows.append([f"{name}.jpg", session, scene, *votes, round(mean, 9), 0.5, 3.0, 0.5])
    return rows


VOTE_HEADER = ["imageName", "sessionId", "semantic", *VOTE_COLUMNS]
VOTE_HEADER += ["aestheticScore_mean", "aestheticScore_std", "qualityScore_mean", "qualityScore_std"]


@pytest.fixture
def para_copy(tmp_path: Path) -> Path:
    """A PARA-shaped folder: photos in session folders, the test split and the per-photo mean file."""
    root = tmp_path / "PARA"
    sessions = {**{n: s for n, (s, _, _) in TEST_PHOTOS.items()}, **SESSIONS}
    for index, (name, session) in enumerate(sessions.items()):
        (root / "imgs" / session).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (40 * index, 90, 200 - 30 * index)).save(
            root / "imgs" / session / f"{name}.jpg"
        )
    write_csv(root / "annotation" / "PARA-GiaaTest.csv", VOTE_HEADER, vote_rows(TEST_PHOTOS))
    means = {
        n: sum(v * (1 + 0.5 * i) for i, v in enumerate(votes)) / sum(votes)
        for n, (_, votes, _) in TEST_PHOTOS.items()
    }
    means.update(TRAIN_MEANS)
    rows = [[i, f"{name}.jpg", mean, mean] for i, (name, mean) in enumerate(means.items())]
    write_csv(root / "annotation" / MEAN_FILE, ["", "imageName", "aestheticScore", "qualityScore"], rows)
    return root


def test_votes_keep_their_mean_on_the_ten_point_scale() -> None:
    assert votes_to_label([1, 0, 0, 0, 0, 0, 0, 0, 0]) == (1.0,) + (0.0,) * 9
    assert votes_to_label([0, 0, 0, 0, 0, 0, 0, 0, 4]) == (0.0,) * 9 + (1.0,)
    # 1.5 sits at 2.125 on 1..10: 7/8 of the vote to score 2, 1/8 to score 3
    assert votes_to_label([0, 1, 0, 0, 0, 0, 0, 0, 0])[1:3] == (0.875, 0.125)
    for _, votes, _ in TEST_PHOTOS.values():
        mean = sum(v * (1 + 0.5 * i) for i, v in enumerate(votes)) / sum(votes)
        assert mean_score(votes_to_label(votes)) == pytest.approx(mean_to_score(mean), abs=1e-5)
    with pytest.raises(ValueError, match="9 vote counts"):
        votes_to_label([1, 2, 3])
    with pytest.raises(ValueError, match="positive sum"):
        votes_to_label([0] * 9)


def test_converts_a_para_copy(para_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    summary = convert_para(para_copy, out)
    test = {e.image_id: e for e in read_labels(out / "para_test.json")}
    train = {e.image_id: e for e in read_labels(out / "para_train.json")}
    assert set(test) == set(TEST_PHOTOS) and set(train) == set(TRAIN_MEANS)
    assert {n: e.scene for n, e in test.items()} == {n: s for n, (_, _, s) in TEST_PHOTOS.items()}
    for name, mean in TRAIN_MEANS.items():
        assert train[name].scene is None
        assert train[name].mean == pytest.approx(mean_to_score(mean), abs=0.01)  # 1.0 moves just inside
    assert train["iaa_pub5_"].label != train["iaa_pub4_"].label
    for name in [*test, *train]:
        photo = image_path(out / "images", name)
        assert photo.resolve().parent.name in {"session1", "session2", "session3"}
        assert Image.open(photo).size == (32, 32)
    assert summary.scenes == {"indoor": 1, "building": 1, "portrait": 1}
    assert "means" in summary.train_source and not summary.missing_photos


def test_an_official_train_file_gives_real_vote_distributions(para_copy: Path, tmp_path: Path) -> None:
    rows = vote_rows({"iaa_pub4_": ("session2", [0, 1, 1, 4, 9, 6, 2, 1, 0], "food")})
    write_csv(para_copy / "annotation" / "PARA-GiaaTrain.csv", VOTE_HEADER, rows)
    summary = convert_para(para_copy, tmp_path / "labels")
    (entry,) = read_labels(tmp_path / "labels" / "para_train.json")
    assert entry.image_id == "iaa_pub4_" and entry.label == votes_to_label([0, 1, 1, 4, 9, 6, 2, 1, 0])
    assert summary.train_source.endswith("PARA-GiaaTrain.csv")


def test_missing_photos_are_left_out_and_named(para_copy: Path, tmp_path: Path) -> None:
    (para_copy / "imgs" / "session3" / "iaa_pub5_.jpg").unlink()
    summary = convert_para(para_copy, tmp_path / "labels")
    assert summary.missing_photos == ["iaa_pub5_"] and summary.train == 2
    assert "iaa_pub5_" not in {e.image_id for e in read_labels(tmp_path / "labels" / "para_train.json")}


def test_a_bad_row_names_the_file_and_line(para_copy: Path, tmp_path: Path) -> None:
    rows = vote_rows(TEST_PHOTOS)
    rows[1][4] = "many"
    write_csv(para_copy / "annotation" / "PARA-GiaaTest.csv", VOTE_HEADER, rows)
    with pytest.raises(ParaError, match=r"PARA-GiaaTest.csv, line 3"):
        convert_para(para_copy, tmp_path / "labels")
    with pytest.raises(ParaError, match="no photo folder"):
        convert_para(tmp_path / "nowhere", tmp_path / "labels")


def test_command_line_converts_and_selects_the_listing_scenes(para_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels"
    runner = CliRunner()
    done = runner.invoke(data_app, ["para", "--para", str(para_copy), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "research and learning use only" in done.output and "test: 3 photos" in done.output
    test_file, chosen = out / "para_test.json", tmp_path / "listing.json"
    args = ["select", str(test_file), "--scene", "indoor", "--scene", "building", "-o", str(chosen)]
    done = runner.invoke(data_app, args)
    assert done.exit_code == 0, done.output
    assert sorted(e.image_id for e in read_labels(chosen)) == ["iaa_pub1_", "iaa_pub2_"]
    assert json.loads(chosen.read_text())[0]["scene"] in {"indoor", "building"}
    done = runner.invoke(data_app, ["select", str(test_file), "--scene", "kitchen", "-o", str(chosen)])
    assert done.exit_code == 2 and "its scenes: ['building', 'indoor', 'portrait']" in done.output


def test_label_files_keep_scenes_and_refuse_bad_ones() -> None:
    (entry,) = parse_labels([{"image_id": "a", "label": [1] * 10, "scene": "indoor"}])
    assert entry.scene == "indoor"
    with pytest.raises(LabelFileError, match="scene must be a non-empty string"):
        parse_labels([{"image_id": "a", "label": [1] * 10, "scene": 5}])
