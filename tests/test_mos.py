"""Mean opinion scores to 10-bucket distributions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from photoscore.data.mos import (
    DEFAULT_STD,
    EDGE,
    STD_MARGIN,
    MosError,
    Scale,
    convert_mos_csv,
    fit_distribution,
    parse_scale,
    std_bounds,
)
from photoscore.distribution import mean_score, std_score
from photoscore.labels import labels_array

LIVEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "livec" / "labels.csv"


def _csv(path: Path, header: str, *rows: str) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-100", (0, 100)),
        ("1-5", (1, 5)),
        ("0,10", (0, 10)),
        (" -3 , 3 ", (-3, 3)),
        ("1-7", (1, 7)),
        ("0.5-4.5", (0.5, 4.5)),
    ],
)
def test_parse_scale(text: str, expected: tuple[float, float]) -> None:
    assert parse_scale(text) == Scale(*expected)


@pytest.mark.parametrize("text", ["", "100", "5-1", "3,3", "a,b", "1,2,3", "0,inf"])
def test_parse_scale_rejects(text: str) -> None:
    with pytest.raises(MosError, match="scale"):
        parse_scale(text)


def test_scales_map_linearly_onto_1_to_10() -> None:
    assert [Scale(0, 100).to_score(v) for v in (0, 50, 100)] == [1.0, 5.5, 10.0]
    assert [Scale(1, 5).to_score(v) for v in (1, 3, 5)] == [1.0, 5.5, 10.0]
    assert Scale(0, 100).to_score_std(20) == pytest.approx(1.8)
    assert Scale(1, 5).to_score_std(1) == pytest.approx(2.25)
    with pytest.raises(MosError, match=r"outside the scale 0\.\.100"):
        Scale(0, 100).to_score(100.5)
    with pytest.raises(MosError, match="negative"):
        Scale(0, 100).to_score_std(-1)


@pytest.mark.parametrize("mean", [1.05, 1.3, 2.0, 3.7, 5.5, 7.25, 9.0, 9.9])
@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_fit_matches_mean_and_std_across_the_possible_range(mean: float, fraction: float) -> None:
    low, high = std_bounds(mean)
    std = low + STD_MARGIN + fraction * (high - low - 2 * STD_MARGIN)
    fit = fit_distribution(mean, std)
    assert fit.note is None
    assert fit.probabilities.shape == (10,) and fit.probabilities.sum() == pytest.approx(1.0)
    assert mean_score(fit.probabilities) == pytest.approx(mean, abs=1e-6)
    assert std_score(fit.probabilities) == pytest.approx(std, abs=1e-6)


def test_fit_is_a_discretised_normal_when_it_can_be() -> None:
    probs = fit_distribution(4.0, 1.2).probabilities
    log_probs = np.log(probs)
    assert np.allclose(np.diff(log_probs, 2), np.diff(log_probs, 2)[0])  # quadratic in the score
    assert np.diff(log_probs, 2)[0] < 0
    assert np.argmax(probs) == 3


def test_fit_near_the_edge_keeps_the_mean_where_plain_discretisation_would_not() -> None:
    mean, std = 1.5, 1.5
    scores = np.arange(1, 11)
    naive = np.exp(-((scores - mean) ** 2) / (2 * std**2))
    assert mean_score(naive) - mean > 0.5  # why the parameters are solved for
    assert mean_score(fit_distribution(mean, std).probabilities) == pytest.approx(mean, abs=1e-6)


def test_fit_without_std_uses_the_default_spread() -> None:
    fit = fit_distribution(6.0)
    assert fit.std == DEFAULT_STD and std_score(fit.probabilities) == pytest.approx(DEFAULT_STD, abs=1e-6)


def test_impossible_std_is_clipped_with_a_note() -> None:
    too_wide = fit_distribution(2.0, 4.0)
    high = std_bounds(2.0)[1]
    assert too_wide.std == pytest.approx(high - STD_MARGIN)
    assert "std 4.000 is at or beyond what 1..10 allows" in (too_wide.note or "")
    assert std_score(too_wide.probabilities) == pytest.approx(too_wide.std, abs=1e-6)
    too_narrow = fit_distribution(5.5, 0.0)
    assert too_narrow.std == pytest.approx(0.5 + STD_MARGIN) and too_narrow.note
    assert fit_distribution(7.0, 0.0).std == pytest.approx(STD_MARGIN)


@pytest.mark.parametrize(("mean", "edge"), [(1.0, 1 + EDGE), (10.0, 10 - EDGE)])
def test_a_mean_at_the_ends_moves_inside(mean: float, edge: float) -> None:
    fit = fit_distribution(mean, 0.0)
    assert fit.mean == edge and "edge" in (fit.note or "")
    assert mean_score(fit.probabilities) == pytest.approx(edge, abs=1e-6)
    assert fit.probabilities[0 if mean == 1.0 else 9] > 0.99


def test_convert_csv_strips_extensions_and_rescales(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", "name,score,sd", "a.JPG,3,1", "b.webp,1,0.5", "c,5,")
    conversion = convert_mos_csv(path, "name", "score", "sd", Scale(1, 5))
    assert [e.image_id for e in conversion.entries] == ["a", "b", "c"]
    array = labels_array(conversion.entries)
    assert np.allclose(mean_score(array), [5.5, 1.0 + EDGE, 10.0 - EDGE], atol=1e-4)
    assert std_score(array)[0] == pytest.approx(2.25, abs=1e-4)
    assert [note.split(":")[0] for note in conversion.notes] == ["line 3 (b)", "line 4 (c)"]
    assert "no std, used the default" in conversion.notes[1]


def test_convert_csv_without_std_column(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", "\ufeffimage,mos", "x.png,40", "y.png,60")
    conversion = convert_mos_csv(path, "image", "mos", None, Scale(0, 100), default_std=1.0)
    assert np.allclose(std_score(labels_array(conversion.entries)), 1.0, atol=1e-4)
    assert conversion.notes == []


def test_convert_csv_names_every_bad_line(tmp_path: Path) -> None:
    path = _csv(
        tmp_path / "r.csv",
        "image,mos,std",
        "1.jpg,50,10",
        "2.jpg,abc,10",
        "3.jpg,150,10",
        "1.png,20,5",
        "../4.jpg,20,5",
        "5.jpg,20,-1",
        ",20,5",
    )
    with pytest.raises(MosError) as info:
        convert_mos_csv(path, "image", "mos", "std", Scale(0, 100))
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}, line {n}" for n in (3, 4, 5, 6, 7, 8)]
    assert "mos 'abc' is not a number" in lines[0]
    assert "150 is outside the scale 0..100" in lines[1]
    assert "repeats line 2" in lines[2]
    assert "separator" in lines[3] and "negative" in lines[4] and "empty" in lines[5]


def test_convert_csv_missing_column_or_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", "image,mos", "1.jpg,50")
    with pytest.raises(MosError, match="no column 'MOS'; columns are image, mos"):
        convert_mos_csv(path, "image", "MOS", None, Scale(0, 100))
    with pytest.raises(MosError, match="no rows"):
        convert_mos_csv(_csv(tmp_path / "e.csv", "image,mos"), "image", "mos", None, Scale(0, 100))


@pytest.mark.skipif(not LIVEC.exists(), reason="LIVE In the Wild labels are not here")
def test_livec_distributions_match_the_rescaled_scores() -> None:
    with open(LIVEC, newline="") as file:
        rows = list(csv.DictReader(file))
    conversion = convert_mos_csv(LIVEC, "image", "mos", "mos_std", parse_scale("0-100"))
    assert len(conversion.entries) == len(rows) == 813
    assert conversion.notes == []
    array = labels_array(conversion.entries)
    mos = np.array([float(r["mos"]) for r in rows])
    std = np.array([float(r["mos_std"]) for r in rows])
    assert np.abs(mean_score(array) - (1 + mos * 9 / 100)).max() < 0.01
    assert np.abs(std_score(array) - std * 9 / 100).max() < 0.05
    assert [e.image_id for e in conversion.entries[:2]] == [r["image"].rsplit(".", 1)[0] for r in rows[:2]]
