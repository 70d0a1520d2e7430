"""Tests for photoscore.distribution."""

import math

import numpy as np
import pytest

from photoscore.distribution import SCORE_BUCKETS, mean_score, normalize, std_score


def test_score_buckets() -> None:
    assert SCORE_BUCKETS.tolist() == list(range(1, 11))


def test_normalize_rows_sum_to_one() -> None:
    counts = np.array([[0, 1, 5, 17, 38, 36, 15, 6, 5, 1], [1] * 10])
    probs = normalize(counts)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(probs[1], 0.1)
    np.testing.assert_allclose(normalize([2.0] + [0.0] * 9), [1.0] + [0.0] * 9)


@pytest.mark.parametrize(
    ("dist", "message"),
    [
        ([1.0] * 9, "shape"),
        (np.ones((2, 3, 10)), "shape"),
        ([-1.0] + [1.0] * 9, "negative"),
        ([0.0] * 10, "zero"),
        ([[1.0] * 10, [0.0] * 10], "zero"),
        ([np.nan] + [1.0] * 9, "NaN"),
    ],
)
def test_normalize_rejects(dist: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize(dist)


def test_mean_and_std_by_hand() -> None:
    # All mass on 7: mean 7, std 0.
    point = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert mean_score(point) == 7.0
    assert std_score(point) == 0.0
    # Half on 1, half on 10: mean 5.5, deviations +-4.5, std 4.5.
    split = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert mean_score(split) == pytest.approx(5.5)
    assert std_score(split) == pytest.approx(4.5)
    # Uniform: mean 5.5, variance (10^2 - 1) / 12 = 8.25.
    assert mean_score([1] * 10) == pytest.approx(5.5)
    assert std_score([1] * 10) == pytest.approx(math.sqrt(8.25))
    # 1/4 on 4, 3/4 on 8 (given as counts): mean 7, variance (1/4)*9 + (3/4)*1 = 3.
    counts = [0, 0, 0, 1, 0, 0, 0, 3, 0, 0]
    assert mean_score(counts) == pytest.approx(7.0)
    assert std_score(counts) == pytest.approx(math.sqrt(3.0))


def test_batch_shapes_and_types() -> None:
    batch = np.array([[0, 0, 0, 0, 0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]])
    assert isinstance(mean_score(batch[0]), float)
    assert isinstance(std_score(batch[0]), float)
    np.testing.assert_allclose(mean_score(batch), [7.0, 5.5])
    np.testing.assert_allclose(std_score(batch), [0.0, 4.5])
    assert mean_score(np.empty((0, 10))).shape == (0,)


def test_batch_matches_rows() -> None:
    rng = np.random.default_rng(0)
    batch = rng.random((5, 10))
    np.testing.assert_allclose(mean_score(batch), [mean_score(row) for row in batch])
    np.testing.assert_allclose(std_score(batch), [std_score(row) for row in batch])
