"""``photoscore data``: AVA, PARA and mean-opinion-score files to label files, splits, selections and
statistics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from photoscore.cli.console import err, fail
from photoscore.data.ava import (
    AVA_TAGS,
    REJECTED_FILE,
    SUMMARY_FILE,
    TEST_FILE,
    TRAIN_FILE,
    AvaError,
    AvaSummary,
    convert_ava,
    read_tags,
    read_test_list,
    resolve_categories,
)
from photoscore.data.mos import DEFAULT_STD, MosError, convert_mos_csv, parse_scale
from photoscore.data.para import DEFAULT_SPREAD, IMAGES_DIR, TERMS, ParaError, convert_para
from photoscore.labels import LabelFileError, LabelStats, label_stats, read_labels, split_labels, write_labels

data_app = typer.Typer(
    help="Prepare training data: AVA, PARA and mean opinion scores to label files, splits, statistics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

MAX_SHOWN = 10


class SplitChoice(StrEnum):
    """How AVA is split into train and test."""

    random = "random"
    official = "official"


def _say(message: str) -> None:
    err.print(message, highlight=False, markup=False)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawing a bar on a terminal only."""
    columns = (TextColumn(label), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _categories(specs: list[str] | None, tags: dict[int, str]) -> dict[int, str] | None:
    """Tags named by --category values; a value is split at commas unless it is a whole tag name."""
    if not specs:
        return None
    names = {name.casefold() for name in tags.values()}
    parts = [
        part
        for spec in specs
        for part in ([spec] if spec.strip().casefold() in names else spec.split(","))
        if part.strip()
    ]
    return resolve_categories(parts, tags)


@data_app.command()
def ava(
    ava_txt: Annotated[Path, typer.Option("--ava-txt", help="AVA.txt (15 columns per line).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the label files and summary.")],
    tags: Annotated[
        Path | None, typer.Option("--tags", help="tags.txt (default: AVA's 66 tags, built in).")
    ] = None,
    image_dir: Annotated[
        Path | None,
        typer.Option(
            "--image-dir", help="Check every selected image exists and decodes; leave out bad ones."
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(help="Keep these tags (either tag column): names or ids, comma-separated or repeated."),
    ] = None,
    split: Annotated[
        SplitChoice, typer.Option(help="random, or official (needs --test-list).")
    ] = SplitChoice.random,
    test_fraction: Annotated[float, typer.Option(help="Test share of the random split.")] = 0.1,
    test_list: Annotated[
        Path | None, typer.Option("--test-list", help="generic_test.jpgl, for --split official.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random split.")] = 0,
    img_format: Annotated[
        str | None, typer.Option(help="Image extension (default: any supported one, any case).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Image-checking threads (default: CPU count).")
    ] = None,
) -> None:
    """AVA.txt to ava_labels_train.json and ava_labels_test.json (+ ava_summary.json)."""
    if split is SplitChoice.official and test_list is None:
        raise fail("--split official needs --test-list generic_test.jpgl")
    if split is SplitChoice.random and test_list is not None:
        raise fail("--test-list is used by --split official only")
    try:
        tag_names = read_tags(tags) if tags is not None else AVA_TAGS
        categories = _categories(category, tag_names)
        test_ids = read_test_list(test_list) if test_list is not None else None
        with _progress("AVA") as progress:
            summary = convert_ava(
                ava_txt,
                out,
                categories=categories,
                split="official" if split is SplitChoice.official else "random",
                test_fraction=test_fraction,
                seed=seed,
                test_ids=test_ids,
                image_dir=image_dir,
                img_format=img_format,
                workers=workers,
                tag_names=tag_names,
                progress=progress,
            )
    except (AvaError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    _report_ava(summary, out, tag_names)
    if summary.rejected_images and summary.rejected_images == summary.selected_rows:
        raise fail(f"every image was rejected; see {out / REJECTED_FILE}", code=1)


def _report_ava(summary: AvaSummary, out: Path, tag_names: dict[int, str]) -> None:
    if summary.problem_count:
        _say(f"Skipped {summary.problem_count} of {summary.lines} lines:")
        for problem in summary.problems[:MAX_SHOWN]:
            _say(f"  line {problem.line}: {problem.problem}")
        if summary.problem_count > MAX_SHOWN:
            _say(f"  ... all listed in {out / SUMMARY_FILE}")
    if summary.test_list_not_in_ava:
        _say(f"{summary.test_list_not_in_ava} of {summary.test_list_ids} test-list ids are not in AVA.txt.")
    if summary.settings.get("image_dir"):
        _say(f"Rejected {summary.rejected_images} images (reasons in {out / REJECTED_FILE}).")
    table = Table(title=f"AVA rows selected: {summary.selected_rows} of {summary.valid_rows}")
    for column in ("split", "images", "votes/image", "mean score"):
        table.add_column(column)
    for name, stats in summary.stats.items():
        table.add_row(name, str(stats.count), _fmt(stats.votes_per_image_mean), _mean_text(stats))
    err.print(table)
    categories = summary.settings.get("categories") or {}
    for tag, counts in sorted(summary.tags.items()):
        if tag in categories:
            _say(f"  {tag_names.get(tag, '?')} ({tag}): {counts['train']} train, {counts['test']} test")
    _say(f"Wrote {out / TRAIN_FILE}, {out / TEST_FILE} and {out / SUMMARY_FILE}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mean_text(stats: LabelStats) -> str:
    if stats.mean_score_mean is None:
        return "-"
    return f"{stats.mean_score_mean:.2f} ± {stats.mean_score_std:.2f}"


@data_app.command("from-mos")
def from_mos(
    csv_file: Annotated[Path, typer.Option("--csv", help="CSV file with a header row.")],
    image_column: Annotated[str, typer.Option(help="Column of image names or ids.")],
    mos_column: Annotated[str, typer.Option(help="Column of mean opinion scores.")],
    scale: Annotated[str, typer.Option(help="Scale of the scores: 0-100, 1-5 or min,max.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Label file to write (JSON).")],
    std_column: Annotated[str | None, typer.Option(help="Column of score std (same scale).")] = None,
    default_std: Annotated[
        float, typer.Option(min=0.0, help="Spread on 1..10 when there is no std.")
    ] = DEFAULT_STD,
) -> None:
    """Mean opinion scores (and std) to 10-bucket distributions (maximum entropy on 1..10)."""
    try:
        conversion = convert_mos_csv(
            csv_file, image_column, mos_column, std_column, parse_scale(scale), default_std
        )
        write_labels(out, conversion.entries)
    except (MosError, OSError) as exc:
        raise fail(str(exc)) from exc
    if conversion.notes:
        _say(f"{len(conversion.notes)} rows needed a note (clipped to what 1..10 allows):")
        for note in conversion.notes[:MAX_SHOWN]:
            _say(f"  {note}")
    _say(f"Wrote {len(conversion.entries)} labels to {out}")


@data_app.command()
def para(
    para_dir: Annotated[Path, typer.Option("--para", help="PARA folder: annotation/ and imgs/session<N>/.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the label files and images/ links.")],
    spread: Annotated[
        float, typer.Option(min=0.0, help="Std on 1..10 of train labels made from a mean score.")
    ] = DEFAULT_SPREAD,
) -> None:
    """PARA to para_train.json (every photo not in the test split) and para_test.json (the official GIAA
    test split, real vote distributions, with scenes), plus a flat images/ folder of links."""
    try:
        summary = convert_para(para_dir, out, spread)
    except (ParaError, OSError) as exc:
        raise fail(str(exc)) from exc
    _say(f"train: {summary.train} photos from {summary.train_source}")
    scenes = ", ".join(f"{name} {count}" for name, count in summary.scenes.most_common())
    _say(f"test: {summary.test} photos ({scenes})")
    if summary.missing_photos:
        shown = ", ".join(summary.missing_photos[:MAX_SHOWN])
        _say(f"left out {len(summary.missing_photos)} labelled photos not found under imgs/: {shown}")
    _say(f"Wrote {out}/para_train.json, para_test.json; photos in {out / IMAGES_DIR}")
    _say(f"Terms: {TERMS}")
    if not summary.train and not summary.test:
        raise fail(f"no labelled photo was found under {para_dir / 'imgs'}", code=1)


@data_app.command("select")
def select_command(
    labels: Annotated[Path, typer.Argument(help="Label file (JSON).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Label file to write.")],
    scene: Annotated[list[str], typer.Option(help="Keep entries of this scene (repeat for several).")],
) -> None:
    """Keep the entries of some scenes (e.g. --scene indoor --scene building)."""
    try:
        entries = read_labels(labels)
        kept = [e for e in entries if e.scene in set(scene)]
        write_labels(out, kept)
    except (LabelFileError, OSError) as exc:
        raise fail(str(exc)) from exc
    if not kept:
        known = sorted({e.scene for e in entries if e.scene})
        raise fail(f"no entry of {labels} has the scene {', '.join(scene)} (its scenes: {known or 'none'})")
    _say(f"{len(kept)} of {len(entries)} entries -> {out}")


@data_app.command("split")
def split_command(
    labels: Annotated[Path, typer.Argument(help="Label file (JSON).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for <name>_train.json and <name>_test.json.")
    ],
    test_fraction: Annotated[float, typer.Option(help="Share of entries in the test file.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed; the same seed and ids give the same split.")] = 0,
) -> None:
    """Split a label file at random into train and test files."""
    try:
        entries = read_labels(labels)
        train, test = split_labels(entries, test_fraction, seed)
        paths = out / f"{labels.stem}_train.json", out / f"{labels.stem}_test.json"
        for path, part in zip(paths, (train, test), strict=True):
            write_labels(path, part)
    except (LabelFileError, ValueError, OSError) as exc:
        raise fail(str(exc)) from exc
    _say(f"{len(train)} train -> {paths[0]}\n{len(test)} test -> {paths[1]}")


@data_app.command()
def stats(
    labels: Annotated[Path, typer.Argument(help="Label file (JSON).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as JSON.")] = False,
) -> None:
    """Count, histogram of mean scores and votes of a label file."""
    try:
        summary = label_stats(read_labels(labels))
    except (LabelFileError, OSError) as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    _print_stats(summary)


def _print_stats(stats: LabelStats) -> None:
    out = Console(highlight=False)
    out.print(f"images: {stats.count}")
    if stats.mean_score_mean is None:
        return
    out.print(
        f"mean score: {stats.mean_score_mean:.3f} ± {stats.mean_score_std:.3f} "
        f"(min {stats.mean_score_min:.3f}, max {stats.mean_score_max:.3f}); mean std {stats.std_score_mean:.3f}"
    )
    if stats.votes_total is None:
        out.print("votes: - (labels are not vote counts)")
    else:
        out.print(
            f"votes: {stats.votes_total} in all, per image {stats.votes_per_image_min} to "
            f"{stats.votes_per_image_max} (mean {stats.votes_per_image_mean:.1f})"
        )
    out.print("mean-score histogram:")
    top = max(stats.histogram) or 1
    for low, count in enumerate(stats.histogram, 1):
        out.print(f"  {low:>2}-{low + 1:<2} {count:>8}  {'#' * round(40 * count / top)}")
