"""The scoring engine against a numpy reference of the same model, on real photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from photoscore.distribution import mean_score, std_score
from photoscore.images import image_id_for, load_image
from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import ModelFileError, OnnxNimaModel


def reference_distribution(
    model_path: Path, photo: Path, seed: int = 0, side: int | None = None
) -> np.ndarray:
    """What the colour model must output, computed with numpy from the photo decoded for ``side`` pixels
    (the largest input side among the models scored together)."""
    prep = OnnxNimaModel(model_path).card.preprocessing
    side = side or max(prep.input_size)
    pixels = prep.to_array(load_image(photo, min_size=(side, side)))
    weights = np.random.default_rng(seed).normal(size=(3, 10))
    logits = pixels.mean(axis=(1, 2)) @ weights
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def test_scores_match_reference_in_input_order(photo_dir, colour_model):
    model = colour_model()
    photos = sorted(photo_dir.glob("*.jpg"), reverse=True)
    results = list(Scorer([model], batch_size=3, workers=2).score(photos))
    assert [r.path for r in results] == [str(p) for p in photos]
    for photo, result in zip(photos, results, strict=True):
        expected = reference_distribution(model, photo)
        assert result.error is None
        assert result.image_id == photo.stem
        np.testing.assert_allclose(result.distribution, expected, atol=1e-5)
        assert result.mean_score_prediction == pytest.approx(mean_score(expected), abs=1e-4)
        assert result.std_score_prediction == pytest.approx(std_score(expected), abs=1e-4)
    assert len({round(r.mean_score_prediction, 4) for r in results}) == len(photos)


def test_bad_file_gets_error_and_batch_continues(tmp_path, photo_dir, colour_model):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo at all")
    good = sorted(photo_dir.glob("*.jpg"))
    paths = [good[0], broken, good[1], tmp_path / "missing.jpg", good[2]]
    results = list(Scorer([colour_model()], batch_size=2).score(paths))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert [r.error is None for r in results] == [True, False, True, False, True]
    assert results[1].mean_score_prediction is None and results[1].distribution is None
    assert results[1].error and results[3].error
    assert results[3].image_id == "missing"


def test_only_bad_files_gives_only_errors(tmp_path, colour_model):
    paths = []
    for i in range(3):
        path = tmp_path / f"empty{i}.png"
        path.write_bytes(b"")
        paths.append(path)
    results = list(Scorer([colour_model()], batch_size=2).score(paths))
    assert len(results) == 3 and all(r.error for r in results)


def test_two_models_of_different_input_sizes_are_averaged(photo_dir, colour_model):
    small = colour_model(name="small", input_size=(40, 40), seed=1)
    wide = colour_model(name="wide", input_size=(40, 64), seed=2)
    photo = photo_dir / "coffee.jpg"
    result = Scorer([small, wide]).score_one(photo)
    dist_small = reference_distribution(small, photo, seed=1, side=64)
    dist_wide = reference_distribution(wide, photo, seed=2, side=64)
    np.testing.assert_allclose(result.distribution, (dist_small + dist_wide) / 2, atol=1e-5)
    assert result.models["small"].mean == pytest.approx(mean_score(dist_small), abs=1e-4)
    assert result.models["wide"].mean == pytest.approx(mean_score(dist_wide), abs=1e-4)
    assert result.mean_score_prediction == pytest.approx(
        (result.models["small"].mean + result.models["wide"].mean) / 2, abs=1e-6
    )


def test_results_stream_without_holding_everything(photo_dir, colour_model):
    """Results arrive before the input is exhausted: the engine reads paths lazily."""
    photo = photo_dir / "chelsea.jpg"
    consumed = 0

    def endless():
        nonlocal consumed
        while True:
            consumed += 1
            yield photo

    stream = Scorer([colour_model()], batch_size=4, workers=2).score(endless())
    first = [next(stream) for _ in range(10)]
    assert all(r.error is None for r in first)
    assert consumed < 10 + 2 * 4 + 2 + 4 + 1  # only the decode window runs ahead


def test_names_with_dots_spaces_and_non_ascii(tmp_path, photo_dir, colour_model):
    odd = tmp_path / "Ünïcode photo.v2.final.JPG"
    shutil.copy(photo_dir / "chelsea.jpg", odd)
    result = Scorer([colour_model()]).score_one(odd)
    assert result.error is None
    assert result.image_id == "Ünïcode photo.v2.final" == image_id_for(odd)


def test_model_errors_name_the_file(tmp_path, colour_model):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 not onnx")
    with pytest.raises(ModelFileError, match=r"junk\.onnx"):
        OnnxNimaModel(junk)
    with pytest.raises(ModelFileError, match="not found"):
        OnnxNimaModel(tmp_path / "absent.onnx")
    with pytest.raises(ValueError, match="share a name"):
        Scorer([colour_model(), colour_model()])
