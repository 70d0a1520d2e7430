"""Normalisers: exact values by hand, degenerate fits, scales, and the norm.json file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from photoscore.scoring.normalize import Normalizer, NormalizerFileError


def values(method: str, fitted_on: list[float], scores: list[float], scale: str = "0-1") -> list[float]:
    return Normalizer.fit(method, fitted_on).apply(scores, scale).tolist()  # type: ignore[arg-type]


def test_minmax_by_hand():
    assert values("minmax", [2, 4, 6, 10], [2, 4, 6, 10]) == [0.0, 0.25, 0.5, 1.0]
    assert values("minmax", [2, 4, 6, 10], [4, 6], "0-100") == [25.0, 50.0]
    assert values("minmax", [4, 6], [3, 5.5, 7]) == [0.0, 0.75, 1.0]  # outside the fitted range: clipped


def test_zscore_is_the_normal_cdf_of_z():
    """Fitted on [4, 6]: mean 5, population std 1."""
    fitted = Normalizer.fit("zscore", [4, 6])
    assert fitted.params == {"mean": 5.0, "std": 1.0}
    got = fitted.apply([5, 6, 3], "0-1")
    np.testing.assert_allclose(got, [0.5, 0.8413447460685429, 0.022750131948179195], rtol=1e-12)
    # [2, 4, 6, 8]: mean 5, std sqrt(5); 2 is z = -3 / sqrt(5)
    expected = 0.5 * (1 + math.erf(-3 / math.sqrt(5) / math.sqrt(2)))
    assert values("zscore", [2, 4, 6, 8], [2], "0-10") == [pytest.approx(10 * expected, abs=1e-12)]


def test_percentile_counts_ties_half():
    """Fitted on [1, 2, 2, 3]: (below + half of equal) / 4."""
    assert values("percentile", [3, 2, 1, 2], [0, 1, 2, 2.5, 3, 4]) == [0.0, 0.125, 0.5, 0.75, 0.875, 1.0]
    assert values("percentile", [1, 2, 3, 4], [1, 4], "0-100") == [12.5, 87.5]


def test_none_maps_1_to_10_linearly():
    assert values("none", [7], [1, 5.5, 10, 0.5, 11]) == [0.0, 0.5, 1.0, 0.0, 1.0]
    assert values("none", [7], [5.5], "0-10") == [5.0]


@pytest.mark.parametrize("fitted_on", [[5.25], [5.25, 5.25, 5.25]])
def test_one_score_or_equal_scores_give_the_middle(fitted_on):
    for method in ("minmax", "zscore", "percentile"):
        assert values(method, fitted_on, [5.25, 5.25]) == [0.5, 0.5], method
        assert values(method, fitted_on, [5.25], "0-100") == [50.0], method
    assert values("minmax", fitted_on, [1, 9]) == [0.5, 0.5]
    assert values("percentile", fitted_on, [1, 9]) == [0.0, 1.0]
    assert values("none", fitted_on, [5.5]) == [0.5]


def test_bad_fits_raise():
    with pytest.raises(ValueError, match="no scores"):
        Normalizer.fit("minmax", [])
    with pytest.raises(ValueError, match="NaN"):
        Normalizer.fit("zscore", [1.0, math.nan])
    with pytest.raises(ValueError, match="unknown normalisation"):
        Normalizer.fit("robust", [1.0])  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["minmax", "zscore", "percentile", "none"])
def test_save_and_load_give_the_same_values(tmp_path, method):
    reference = [4.123456789, 5.5, 6.987654321, 5.5]
    fitted = Normalizer.fit(method, reference)
    fitted = Normalizer(fitted.method, fitted.params, fitted.count, ("a", "b"), (0.25, 0.75))
    loaded = Normalizer.load(fitted.save(tmp_path / "sub" / "norm.json"))
    assert loaded == fitted
    probe = [3.0, 4.123456789, 5.5, 6.0, 9.0]
    np.testing.assert_array_equal(loaded.apply(probe, "0-100"), fitted.apply(probe, "0-100"))


def test_ensemble_check():
    fitted = Normalizer("minmax", {"min": 4.0, "max": 6.0}, 2, ("a", "b"), (0.5, 0.5))
    fitted.check_ensemble(["a", "b"], [0.5, 0.5])
    with pytest.raises(ValueError, match="models"):
        fitted.check_ensemble(["a"], [1.0])
    with pytest.raises(ValueError, match="weights"):
        fitted.check_ensemble(["a", "b"], [0.25, 0.75])
    Normalizer("minmax", {"min": 4.0, "max": 6.0}).check_ensemble(["x"], [1.0])  # no record: no check


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read"),
        ('{"format": "other"}', "not a photoscore normaliser"),
        ('{"format": "photoscore.normalizer", "version": 9}', "version 9"),
        ('{"format": "photoscore.normalizer", "version": 1, "method": "minmax", "params": {"min": 1}}',
         "wrong parameters"),
        ('{"format": "photoscore.normalizer", "version": 1, "method": "percentile", "params": {"scores": []}}',
         "finite numbers"),
        ('{"format": "photoscore.normalizer", "version": 1, "method": "zscore", "params": {"mean": "5", "std": 1}}',
         "finite numbers"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "norm.json"
    path.write_text(content)
    with pytest.raises(NormalizerFileError, match=message) as caught:
        Normalizer.load(path)
    assert str(path) in str(caught.value)
    with pytest.raises(NormalizerFileError, match="cannot read"):
        Normalizer.load(tmp_path / "absent.json")


def test_file_is_plain_json(tmp_path):
    path = Normalizer.fit("minmax", [4.0, 6.0]).save(tmp_path / "norm.json")
    document = json.loads(path.read_text())
    assert document["method"] == "minmax" and document["params"] == {"min": 4.0, "max": 6.0}
    assert document["count"] == 2
