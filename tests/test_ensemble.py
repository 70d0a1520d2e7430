"""Ensembles: exact arithmetic of both modes, the Scorer's use of them, and two real models together."""

from __future__ import annotations

import math

import numpy as np
import pytest

from photoscore.distribution import mean_score
from photoscore.images import load_image
from photoscore.scoring.engine import Scorer
from photoscore.scoring.ensemble import combine, model_weights
from photoscore.scoring.onnx_model import OnnxNimaModel

# Model A is sure of a 4; model B splits between 6 and 8 (mean 7, std 1).
ONE_HOT_4 = np.eye(10)[3]
SPLIT_6_8 = (np.eye(10)[5] + np.eye(10)[7]) / 2
PER_MODEL = np.stack([ONE_HOT_4[None], SPLIT_6_8[None]])  # (2 models, 1 photo, 10)


def test_weights_are_normalised_and_checked():
    np.testing.assert_array_equal(model_weights(None, 4), [0.25] * 4)
    np.testing.assert_array_equal(model_weights([1, 3], 2), [0.25, 0.75])
    for bad, match in [([1], "expected 2, got 1"), ([1, -1], "non-negative"), ([0, 0], "positive sum"),
                       ([1, math.nan], "non-negative")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            model_weights(bad, 2)


def test_distribution_mode_by_hand():
    """Weights 1:3 -> 0.25 at 4, 0.375 at 6, 0.375 at 8: mean 6.25, variance 2.4375."""
    combined = combine(PER_MODEL, model_weights([1, 3], 2), "distribution")
    expected = np.zeros(10)
    expected[[3, 5, 7]] = [0.25, 0.375, 0.375]
    np.testing.assert_allclose(combined.distribution[0], expected, atol=1e-15)
    assert combined.mean[0] == pytest.approx(6.25, abs=1e-12)
    # 0.25 * 2.25^2 + 0.375 * 0.25^2 + 0.375 * 1.75^2 = 1.265625 + 0.0234375 + 1.1484375
    assert combined.std[0] == pytest.approx(math.sqrt(2.4375), abs=1e-12)
    np.testing.assert_allclose(combined.model_means[:, 0], [4.0, 7.0], atol=1e-12)
    np.testing.assert_allclose(combined.model_stds[:, 0], [0.0, 1.0], atol=1e-12)


def test_mean_mode_by_hand():
    """Mean of means 0.25 * 4 + 0.75 * 7 = 6.25; std 0.25 * 0 + 0.75 * 1 = 0.75 (no disagreement term)."""
    combined = combine(PER_MODEL, model_weights([1, 3], 2), "mean")
    assert combined.mean[0] == pytest.approx(6.25, abs=1e-12)
    assert combined.std[0] == pytest.approx(0.75, abs=1e-12)
    assert combined.distribution[0][3] == pytest.approx(0.25)  # the reported distribution is the average


def test_both_modes_give_the_same_mean_on_random_distributions():
    per_model = np.random.default_rng(0).dirichlet(np.ones(10), size=(3, 50))
    weights = model_weights([0.2, 0.5, 0.3], 3)
    by_distribution = combine(per_model, weights, "distribution")
    by_mean = combine(per_model, weights, "mean")
    np.testing.assert_allclose(by_distribution.mean, by_mean.mean, atol=1e-12)
    assert np.all(by_distribution.std >= by_mean.std - 1e-12)  # disagreement only adds spread
    with pytest.raises(ValueError, match="unknown ensemble mode"):
        combine(per_model, weights, "median")  # type: ignore[arg-type]


def test_scorer_combines_with_weights_and_mode(photo_dir, colour_model):
    """Same-size models decode identically, so single-model runs give each model's own distribution."""
    a, b = colour_model("a", seed=1), colour_model("b", seed=2)
    photos = sorted(photo_dir.glob("*.jpg"))
    alone = [np.array([r.distribution for r in Scorer([m]).score(photos)]) for m in (a, b)]
    for mode in ("distribution", "mean"):
        together = list(Scorer([a, b], weights=[3, 1], ensemble=mode).score(photos))
        expected = combine(np.stack(alone), model_weights([3, 1], 2), mode)
        np.testing.assert_allclose([r.mean_score_prediction for r in together], expected.mean, atol=1e-5)
        np.testing.assert_allclose([r.std_score_prediction for r in together], expected.std, atol=1e-5)
        np.testing.assert_allclose([r.distribution for r in together], expected.distribution, atol=1e-6)
    with pytest.raises(ValueError, match="expected 2, got 1"):
        Scorer([a, b], weights=[1])
    with pytest.raises(ValueError, match="unknown ensemble mode"):
        Scorer([a], ensemble="median")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def real_models(tmp_path_factory):
    """Two real exported NIMA models of different input sizes: EfficientNet-Lite0 (224) and Lite1 (240)."""
    export = pytest.importorskip("photoscore.training.export")
    folder = tmp_path_factory.mktemp("real-models")
    return [
        export.build_and_export(folder / f"{name}.onnx", backbone=backbone, weights="offline", name=name)[0]
        for name, backbone in (("lite0", "EfficientNetLite0"), ("lite1", "EfficientNetLite1"))
    ]


@pytest.mark.slow
def test_two_real_models_of_different_sizes_score_real_photos_together(real_models, photo_dir):
    models = [OnnxNimaModel(p) for p in real_models]
    assert [m.card.preprocessing.input_size for m in models] == [(224, 224), (240, 240)]
    photos = sorted(photo_dir.glob("*.jpg"))
    results = list(Scorer(models, batch_size=3, weights=[0.25, 0.75], ensemble="mean").score(photos))
    for photo, result in zip(photos, results, strict=True):
        image = load_image(photo, min_size=(240, 240))  # one decode, at the larger model's size
        means = []
        for model in models:
            dist = model.predict(model.card.preprocessing.to_array(image)[None])[0]
            means.append(mean_score(dist))
            assert result.models[model.name].mean == pytest.approx(means[-1], abs=1e-4)
        assert result.mean_score_prediction == pytest.approx(0.25 * means[0] + 0.75 * means[1], abs=1e-4)
    rankings = Scorer(models, weights=[0.25, 0.75]).rank(photos, group_by="none")
    (ranking,) = rankings
    ordered = [r.mean_score_prediction for r in ranking.results]
    assert ordered == sorted(ordered, reverse=True)
    assert sorted(r.rank for r in ranking.results) == [1, 2, 3, 4]
    assert ranking.cover is ranking.results[0]
    assert [r.normalized_score for r in (ranking.results[0], ranking.results[-1])] == [1.0, 0.0]


def test_huge_weights_do_not_overflow_their_sum():
    assert model_weights([1e308, 1e308], 2).tolist() == [0.5, 0.5]
    assert model_weights([1e308, 0.0], 2).tolist() == [1.0, 0.0]
