"""Tests for photoscore.metrics."""

import math

import numpy as np
import pytest
from scipy import stats

from photoscore.metrics import binary_accuracy, emd, evaluate_predictions, krcc, plcc, srcc

ON_1 = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
ON_10 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_emd_extremes_by_hand() -> None:
    # CDF on 1: all ten entries 1; CDF on 10: nine 0s then 1. |difference| is 1 in 9 of 10 buckets.
    np.testing.assert_allclose(emd(ON_1, ON_10, r=1), [0.9])
    np.testing.assert_allclose(emd(ON_1, ON_10, r=2), [math.sqrt(0.9)])
    np.testing.assert_allclose(emd(ON_10, ON_1, r=2), [math.sqrt(0.9)])


def test_emd_neighbours_by_hand() -> None:
    # Half on 1 and half on 2 vs all on 2: CDFs [0.5, 1, ...] vs [0, 1, ...], one difference of 0.5.
    # r=1: 0.5 / 10 = 0.05; r=2: sqrt(0.25 / 10) = 0.158113883...
    true = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    pred = [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(emd(true, pred, r=1), [0.05])
    np.testing.assert_allclose(emd(true, pred, r=2), [math.sqrt(0.025)])


def test_emd_uniform_vs_point_by_hand() -> None:
    # Uniform vs all on 1: CDF differences 1 - k/10 for k = 1..10, i.e. 0.9, 0.8, ..., 0.
    # r=1: 4.5 / 10 = 0.45; r=2: sqrt((0.81+0.64+0.49+0.36+0.25+0.16+0.09+0.04+0.01) / 10) = sqrt(0.285).
    np.testing.assert_allclose(emd([1] * 10, ON_1, r=1), [0.45])
    np.testing.assert_allclose(emd([1] * 10, ON_1, r=2), [math.sqrt(0.285)])


def test_emd_counts_equal_normalised() -> None:
    counts = np.array([[0, 1, 5, 17, 38, 36, 15, 6, 5, 1], [3, 0, 2, 9, 4, 1, 0, 0, 1, 2]])
    pred = np.random.default_rng(1).dirichlet(np.ones(10), size=2)
    for r in (1, 2):
        by_counts = emd(counts, pred, r=r)
        by_probs = emd(counts / counts.sum(axis=1, keepdims=True), pred, r=r)
        assert by_counts.shape == (2,)
        np.testing.assert_allclose(by_counts, by_probs)


def test_emd_identical_is_zero_and_symmetric() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.dirichlet(np.ones(10), size=(2, 8))
    np.testing.assert_allclose(emd(a, a), np.zeros(8), atol=1e-15)
    np.testing.assert_allclose(emd(a, b), emd(b, a))


def test_emd_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        emd(np.ones((2, 10)), np.ones((3, 10)))
    with pytest.raises(ValueError, match="shape"):
        emd(np.ones((2, 9)), np.ones((2, 9)))
    with pytest.raises(ValueError, match="negative"):
        emd([-1] + [1] * 9, ON_1)
    with pytest.raises(ValueError, match="r must be"):
        emd(ON_1, ON_10, r=0.5)


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    y = x + rng.normal(scale=0.7, size=50)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert srcc(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert krcc(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    for func in (plcc, srcc, krcc):
        assert type(func(x, y)) is float


def test_correlations_by_hand() -> None:
    x = [1.0, 2.0, 3.0, 4.0]
    monotone = [1.0, 10.0, 11.0, 100.0]
    assert srcc(x, monotone) == pytest.approx(1.0)
    assert krcc(x, monotone) == pytest.approx(1.0)
    assert srcc(x, monotone[::-1]) == pytest.approx(-1.0)
    assert krcc(x, monotone[::-1]) == pytest.approx(-1.0)
    assert plcc(x, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    # x = 1,2,3 and y = 1,3,2: centred -1,0,1 and -1,1,0, so PLCC = 1 / 2 = 0.5; the values are their own
    # ranks, so SRCC = 0.5 too.
    # Kendall: pairs (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2 - 1) / 3.
    assert plcc([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert srcc([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert krcc([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


@pytest.mark.parametrize("func", [plcc, srcc, krcc])
def test_correlations_reject_bad_input(func: object) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        func([1.0], [2.0])
    with pytest.raises(ValueError, match="constant"):
        func([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    with pytest.raises(ValueError, match="same length"):
        func([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        func([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])


def test_binary_accuracy_by_hand() -> None:
    true = [6.0, 4.0, 5.2, 3.0, 5.0]
    pred = [5.5, 5.1, 4.9, 2.0, 4.0]
    # high/low (> 5 is high): true H L H L L, pred H H L L L -> same side for samples 1, 4, 5: 3 / 5.
    assert binary_accuracy(true, pred) == pytest.approx(0.6)
    # Exactly 5 counts as low, so 5.0 and 4.9 agree, 5.0 and 5.01 do not.
    assert binary_accuracy([5.0], [4.9]) == 1.0
    assert binary_accuracy([5.0], [5.01]) == 0.0
    # At 5.3 only 6.0 and 5.5 are high, and they pair up: all agree.
    assert binary_accuracy(true, pred, threshold=5.3) == 1.0


def test_binary_accuracy_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        binary_accuracy([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no samples"):
        binary_accuracy([], [])


def test_evaluate_predictions() -> None:
    rng = np.random.default_rng(4)
    true = rng.integers(0, 50, size=(30, 10))
    pred = rng.dirichlet(np.ones(10), size=30)
    result = evaluate_predictions(true, pred)
    assert set(result) == {"n", "plcc", "srcc", "krcc", "accuracy", "emd", "emd_r1", "mean_abs_error", "rmse"}
    assert result["n"] == 30
    buckets = np.arange(1, 11)
    true_means = true @ buckets / true.sum(axis=1)
    pred_means = pred @ buckets
    assert result["plcc"] == pytest.approx(stats.pearsonr(true_means, pred_means).statistic)
    assert result["srcc"] == pytest.approx(stats.spearmanr(true_means, pred_means).statistic)
    assert result["krcc"] == pytest.approx(stats.kendalltau(true_means, pred_means).statistic)
    assert result["accuracy"] == pytest.approx(np.mean((true_means > 5) == (pred_means > 5)))
    assert result["emd"] == pytest.approx(emd(true, pred, r=2).mean())
    assert result["emd_r1"] == pytest.approx(emd(true, pred, r=1).mean())
    assert result["mean_abs_error"] == pytest.approx(np.abs(true_means - pred_means).mean())
    assert result["rmse"] == pytest.approx(np.sqrt(((true_means - pred_means) ** 2).mean()))


def test_evaluate_predictions_perfect() -> None:
    dists = np.random.default_rng(5).dirichlet(np.ones(10), size=10)
    result = evaluate_predictions(dists, dists)
    assert result["plcc"] == pytest.approx(1.0)
    assert result["srcc"] == pytest.approx(1.0)
    assert result["accuracy"] == 1.0
    assert result["emd"] == pytest.approx(0.0, abs=1e-12)
    assert result["mean_abs_error"] == pytest.approx(0.0, abs=1e-12)


def test_evaluate_predictions_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(N, 10\)"):
        evaluate_predictions(np.ones(10), np.ones(10))
    with pytest.raises(ValueError, match="same shape"):
        evaluate_predictions(np.ones((3, 10)), np.ones((4, 10)))
    with pytest.raises(ValueError, match="constant"):
        evaluate_predictions(np.random.default_rng(6).random((5, 10)), np.ones((5, 10)))
