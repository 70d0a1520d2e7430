"""An evaluation report: an HTML page with PNG plots and photo thumbnails in one folder.

``report.html`` shows the metrics table, ``scatter.png`` (predicted vs true mean score, one panel per
model and the ensemble), ``histograms.png`` (true and predicted mean scores), the photos the model rates
best and worst and those with the largest errors (``thumbs/``), and the photos left out. The folder has
everything the page needs. Plots use matplotlib's object API (Agg canvas, no pyplot, no display).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np

from photoscore.atomic import atomic_open
from photoscore.evaluate import Evaluation, Predictor
from photoscore.images import ImageError, load_image

REPORT_FILE = "report.html"
SCATTER_FILE = "scatter.png"
HISTOGRAM_FILE = "histograms.png"
THUMB_DIR = "thumbs"
THUMB_SIZE = 160
THUMBS_PER_ROW = 8
MAX_PANELS_PER_ROW = 3

COLUMNS = (
    ("n", "n"),
    ("emd_r1", "EMD r=1"),
    ("emd", "EMD r=2"),
    ("plcc", "PLCC"),
    ("srcc", "SRCC"),
    ("krcc", "KRCC"),
    ("accuracy", "accuracy at 5"),
    ("mean_abs_error", "MAE"),
    ("rmse", "RMSE"),
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.strip { display: flex; flex-wrap: wrap; gap: 0.8em; margin-bottom: 1.5em; }
figure { margin: 0; width: 160px; font-size: 0.8em; }
figure img { display: block; max-width: 160px; max-height: 160px; }
.note { color: #8a4b00; }
"""


def write_report(
    evaluation: Evaluation,
    out_dir: str | Path,
    about: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``report.html`` with its plots and thumbnails into ``out_dir``; returns the page's path.

    ``about`` rows (labels, image folder, models ...) head the page; ``notes`` are shown under them.
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<h1>photoscore evaluation</h1>{_about_table(about or {}, evaluation)}",
        *(f'<p class="note">{escape(note)}</p>' for note in notes),
        "<h2>Metrics</h2>",
        _metrics_table(evaluation.predictors),
    ]
    if evaluation.image_ids:
        plot_scatter(evaluation, folder / SCATTER_FILE)
        plot_histograms(evaluation, folder / HISTOGRAM_FILE)
        parts += [
            f'<h2>Predicted vs true mean score</h2><img src="{SCATTER_FILE}" alt="scatter plot">',
            f'<h2>Mean scores</h2><img src="{HISTOGRAM_FILE}" alt="histograms">',
            _photo_sections(evaluation, folder),
        ]
    else:
        parts.append("<p>No photo could be scored.</p>")
    parts.append(_failures_section(evaluation))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>photoscore evaluation</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    path = folder / REPORT_FILE
    with atomic_open(path) as file:
        file.write(page)
    return path


def _about_table(about: Mapping[str, str], evaluation: Evaluation) -> str:
    rows = {
        **about,
        "photos": f"{evaluation.labelled} labelled, {len(evaluation.image_ids)} scored, "
        f"{len(evaluation.failures)} left out",
    }
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _metrics_table(predictors: Sequence[Predictor]) -> str:
    """One row per predictor; a last column says why metrics are undefined, when any are."""
    errors = any(p.error for p in predictors)
    titles = [title for _, title in COLUMNS] + (["why undefined"] if errors else [])
    rows = []
    for predictor in predictors:
        cells = [f'<td class="num">{format_metric(predictor.metrics.get(key))}</td>' for key, _ in COLUMNS]
        if errors:
            cells.append(f'<td class="note">{escape(predictor.error or "")}</td>')
        rows.append(f"<tr><th>{escape(predictor.name)}</th>{''.join(cells)}</tr>")
    head = "".join(f"<th>{escape(title)}</th>" for title in titles)
    return f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def format_metric(value: float | int | None) -> str:
    """A metric for a table: counts as they are, others to 4 decimals, "-" when undefined."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.4f}"


def _photo_sections(evaluation: Evaluation, folder: Path) -> str:
    """Thumbnails of the photos the main predictor rates best and worst, and of its largest errors."""
    main = evaluation.main
    count = min(THUMBS_PER_ROW, max(1, len(main.means) // 2))
    order = np.argsort(-main.means, kind="stable")
    errors = np.argsort(-np.abs(main.means - evaluation.true_means), kind="stable")
    sections = (
        (f"Rated best by {main.name}", order[:count]),
        (f"Rated worst by {main.name}", order[::-1][:count]),
        (f"Largest errors of {main.name}", errors[:count]),
    )
    (folder / THUMB_DIR).mkdir(exist_ok=True)
    made: dict[int, str | None] = {}
    html = []
    for title, indices in sections:
        figures = "".join(_thumbnail_figure(evaluation, int(i), folder, made) for i in indices)
        html.append(f'<h2>{escape(title)}</h2><div class="strip">{figures}</div>')
    return "\n".join(html)


def _thumbnail_figure(evaluation: Evaluation, index: int, folder: Path, made: dict[int, str | None]) -> str:
    if index not in made:
        made[index] = _thumbnail(Path(evaluation.paths[index]), folder / THUMB_DIR / f"{index}.jpg")
    src = made[index]
    image = f'<img src="{escape(src)}" alt="">' if src else "<p>(no longer readable)</p>"
    true, predicted = evaluation.true_means[index], evaluation.main.means[index]
    return (
        f"<figure>{image}<figcaption>{escape(evaluation.image_ids[index])}<br>"
        f"true {true:.2f} · predicted {predicted:.2f}</figcaption></figure>"
    )


def _thumbnail(photo: Path, out: Path) -> str | None:
    """Save a JPEG thumbnail of ``photo``; its path relative to the report, or None if unreadable."""
    try:
        image = load_image(photo, min_size=(THUMB_SIZE, THUMB_SIZE))
    except ImageError:
        return None
    image.thumbnail((THUMB_SIZE, THUMB_SIZE))
    image.save(out, quality=85)
    return f"{THUMB_DIR}/{out.name}"


def _failures_section(evaluation: Evaluation) -> str:
    failures = evaluation.failures
    title = f"<h2>Photos left out ({len(failures)})</h2>"
    if not failures:
        return title + "<p>None: every labelled photo was scored.</p>"
    rows = "".join(
        f"<tr><td>{escape(f.image_id)}</td><td>{escape(f.path or '')}</td><td>{escape(f.error)}</td></tr>"
        for f in failures
    )
    return f"{title}<table><tr><th>image_id</th><th>path</th><th>why</th></tr>{rows}</table>"


def plot_scatter(evaluation: Evaluation, path: Path) -> None:
    """Predicted vs true mean score, one panel per predictor, with the line of perfect agreement."""
    from matplotlib.figure import Figure

    predictors = evaluation.predictors
    cols = min(len(predictors), MAX_PANELS_PER_ROW)
    rows = math.ceil(len(predictors) / cols)
    figure = Figure(figsize=(4.2 * cols, 4.2 * rows), dpi=100, layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    low, high = _limits([evaluation.true_means, *(p.means for p in predictors)])
    size = max(2.0, min(30.0, 3000 / len(evaluation.true_means)))
    for ax, predictor in zip(axes, predictors, strict=False):
        ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1)
        ax.scatter(evaluation.true_means, predictor.means, s=size, alpha=0.6, edgecolors="none")
        ax.set(xlim=(low, high), ylim=(low, high), aspect="equal", xlabel="true mean score")
        ax.set(ylabel="predicted mean score", title=_panel_title(predictor))
    for ax in axes[len(predictors) :]:
        ax.set_visible(False)
    figure.savefig(path)


def _panel_title(predictor: Predictor) -> str:
    metrics = predictor.metrics
    if predictor.error:
        return predictor.name
    return f"{predictor.name}\nPLCC {metrics['plcc']:.3f}  SRCC {metrics['srcc']:.3f}"


def _limits(values: Sequence[np.ndarray]) -> tuple[float, float]:
    """Axis limits around all mean scores, within 1..10."""
    low = min(float(v.min()) for v in values)
    high = max(float(v.max()) for v in values)
    return max(1.0, low - 0.25), min(10.0, high + 0.25)


def plot_histograms(evaluation: Evaluation, path: Path) -> None:
    """Histograms of the true mean scores and the main predictor's, on the 1..10 scale."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.6), dpi=100, layout="constrained")
    ax = figure.subplots()
    bins = np.linspace(1, 10, 37)
    ax.hist(evaluation.true_means, bins=bins, alpha=0.55, label="true")
    ax.hist(evaluation.main.means, bins=bins, alpha=0.55, label=f"predicted ({evaluation.main.name})")
    ax.set(xlim=(1, 10), xlabel="mean score", ylabel="photos")
    ax.legend()
    figure.savefig(path)
