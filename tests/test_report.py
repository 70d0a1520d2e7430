"""The HTML report: files exist, plots and thumbnails are real images, text is escaped."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photoscore.evaluate import Evaluation, evaluate_photos
from photoscore.labels import LabelEntry
from photoscore.report import HISTOGRAM_FILE, REPORT_FILE, SCATTER_FILE, write_report
from photoscore.scoring.engine import Scorer


@pytest.fixture
def evaluation(tmp_path: Path, photo_dir: Path, colour_model) -> Evaluation:
    """Two colour models on the sample photos; one labelled id has no file and a tricky name."""
    folder = tmp_path / "photos"
    shutil.copytree(photo_dir, folder)
    ids = ["astronaut", "chelsea", "<script>&gone", "coffee", "rocket"]
    rng = np.random.default_rng(3)
    entries = [LabelEntry(i, tuple(float(v) for v in rng.integers(1, 30, 10))) for i in ids]
    scorer = Scorer([colour_model(name="warm", seed=1), colour_model(name="cool", seed=2)], workers=2)
    return evaluate_photos(entries, folder, scorer)


def assert_real_plot(path: Path, min_size: tuple[int, int]) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_size[0] and image.height >= min_size[1]
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 20  # not a blank canvas
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # axes, text, markers in several colours


def test_report_files_and_plots(tmp_path: Path, evaluation: Evaluation) -> None:
    out = tmp_path / "report"
    page = write_report(evaluation, out, {"labels": "test.json"}, ["a note <b>"])
    assert page == out / REPORT_FILE
    assert_real_plot(out / SCATTER_FILE, (3 * 300, 300))  # three panels: two models and the ensemble
    assert_real_plot(out / HISTOGRAM_FILE, (500, 250))
    html = page.read_text()
    for title in ("EMD r=1", "EMD r=2", "PLCC", "SRCC", "KRCC", "accuracy at 5", "MAE", "RMSE"):
        assert f"<th>{title}</th>" in html
    for section in ("Rated best by ensemble", "Rated worst by ensemble", "Largest errors of ensemble"):
        assert section in html
    assert "Photos left out (1)" in html and "&lt;script&gt;&amp;gone" in html and "<script>" not in html
    assert "a note &lt;b&gt;" in html


def test_thumbnails_show_the_photos_with_their_scores(tmp_path: Path, evaluation: Evaluation) -> None:
    page = write_report(evaluation, tmp_path / "report")
    html = page.read_text()
    sources = set(re.findall(r'<img src="(thumbs/[^"]+)"', html))
    assert sources and len(sources) <= len(evaluation.image_ids)
    for source in sources:
        with Image.open(page.parent / source) as thumb:
            assert max(thumb.size) == 160 and np.asarray(thumb).std() > 10
    best = int(np.argmax(evaluation.main.means))
    caption = (
        f"{evaluation.image_ids[best]}<br>true {evaluation.true_means[best]:.2f} · "
        f"predicted {evaluation.main.means[best]:.2f}"
    )
    assert html.index(caption) < html.index("Rated worst")


def test_report_without_scored_photos(tmp_path: Path, colour_model) -> None:
    scorer = Scorer([colour_model()], workers=1)
    evaluation = evaluate_photos([LabelEntry("absent", (1.0,) * 10)], tmp_path, scorer)
    page = write_report(evaluation, tmp_path / "report")
    html = page.read_text()
    assert "No photo could be scored" in html and "why undefined" in html and "at least 2" in html
    assert not (tmp_path / "report" / SCATTER_FILE).exists()
