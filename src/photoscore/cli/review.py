"""The ``review`` command: each listing's photos reviewed as a platform's photo team would."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from photoscore.atomic import atomic_open
from photoscore.cli.console import err, fail, printable, progress_bar
from photoscore.cli.score import (
    BatchSizeOption,
    EnsembleOption,
    ManifestOption,
    MaxPixelsOption,
    ModelOption,
    RecursiveOption,
    WeightsOption,
    WorkersOption,
    _photos_and_groups,
    _scorer,
    _summarise,
)
from photoscore.images import DEFAULT_MAX_PIXELS
from photoscore.review.output import FORMATS, listing_record, listings_path, photo_record, write_records
from photoscore.review.presets import Preset, PresetError, get_preset, load_preset_file, preset_names
from photoscore.review.results import ListingReview, PhotoReview
from photoscore.review.reviewer import Reviewer
from photoscore.review.sheet import ReviewSheet
from photoscore.scoring.results import ScoreResult

PresetOption = Annotated[str, typer.Option(help=f"Platform rules: {', '.join(preset_names())}.")]
PresetFileOption = Annotated[
    Path | None,
    typer.Option(help="A JSON file with a platform's own rules (the keys of a preset); overrides --preset."),
]


def review(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="A listing folder (or several, or photos); with -r, a folder of listing folders."
        ),
    ] = None,
    model: ModelOption = None,
    recursive: RecursiveOption = False,
    manifest: ManifestOption = None,
    model_weights: WeightsOption = None,
    ensemble: EnsembleOption = "distribution",
    preset: PresetOption = "none",
    preset_file: PresetFileOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="One record per photo in FILE.json, .jsonl or .csv; the listings go to FILE.listings.<ext>.",
        ),
    ] = None,
    listings: Annotated[
        Path | None, typer.Option(help="Where the listing records go (default: beside -o).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {listings, photos} as JSON on standard output.")
    ] = False,
    html: Annotated[
        Path | None, typer.Option(help="Write a contact sheet with rooms and reasons (one HTML file) here.")
    ] = None,
    batch_size: BatchSizeOption = 32,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Review each listing: the order to show its photos, the cover, rooms, what is wrong with each photo
    and how to fix it, duplicates, and the platform's rules.

    A listing is a folder of photos, or a listing_id of --manifest. Exits non-zero only when nothing could
    be reviewed.
    """
    for target in (output, listings):
        if target is not None and target.suffix.lower() not in FORMATS:
            raise fail(f"{target}: unknown output format; use a .json, .jsonl or .csv file name")
    rules = platform_rules(preset, preset_file)
    files, groups = _photos_and_groups(paths, manifest, None, recursive)
    reviewer = Reviewer(_scorer(model, model_weights, ensemble, batch_size, workers, max_pixels), rules)
    names = [m.name for m in reviewer.scorer.models]
    reviewed: list[ListingReview] = []
    with ExitStack() as stack:
        sheet = stack.enter_context(ReviewSheet(html, rules)) if html else None
        progress = stack.enter_context(progress_bar("reviewing"))
        task = progress.add_task("review", total=len(files))
        for listing in reviewer.review(files, groups):
            progress.advance(task, len(listing.photos))
            if not as_json:
                _print_listing(listing)
            if sheet is not None:
                sheet.add(listing)
            for photo in listing.photos:  # decided: the embeddings are not written, so not kept either
                photo.embedding = None
            reviewed.append(listing)
    photos = sorted((p for listing in reviewed for p in listing.photos), key=lambda p: p.index)
    paths_by_index = {p.index: p.result.path for p in photos}
    photo_rows = [photo_record(p, names, paths_by_index) for p in photos]
    listing_rows = [listing_record(listing, paths_by_index) for listing in reviewed]
    if as_json:
        json.dump({"listings": listing_rows, "photos": photo_rows}, sys.stdout, ensure_ascii=False, indent=1)
        print()
    if output is not None:
        _write(output, photo_rows)
    if output is not None or listings is not None:
        _write(listings or listings_path(output), listing_rows)  # type: ignore[arg-type]
    failures: list[ScoreResult] = [p.result for p in photos if not p.ok]
    _summarise(len(files), failures, output)
    _summarise_listings(reviewed, rules, html)
    if len(failures) == len(files):
        raise typer.Exit(1)


def platform_rules(name: str, path: Path | None) -> Preset:
    """The preset a command's ``--preset`` and ``--preset-file`` name (the file wins)."""
    try:
        return load_preset_file(path) if path is not None else get_preset(name)
    except PresetError as exc:
        raise fail(str(exc)) from exc


def _write(path: Path, rows: list[dict]) -> None:
    with atomic_open(path) as stream:
        write_records(stream, path.suffix.lower(), rows)


def _print_listing(listing: ListingReview) -> None:
    """A listing on standard output: its cover, verdicts, then each photo in the order to show."""
    cover = listing.cover.result.path if listing.cover else "(none)"
    print(printable(f"{listing.title} ({listing.preset}), cover {cover}"))
    if listing.cover_note:
        print(printable(f"  cover: {listing.cover_note}"))
    verdicts = listing.verdicts
    print(
        f"  photos {listing.acceptable_photos} acceptable of {len(listing.photos)} "
        f"(at least {listing.min_photos}: {verdicts['photo_count']}); rooms missing: "
        f"{', '.join(listing.missing_rooms) or 'none'}; duplicates: {len(listing.duplicates)}"
    )
    for photo in listing.photos:
        print(printable(_photo_line(photo)))
        for reason in photo.reasons:
            print(printable(f"         - {reason}"))
    print()


def _photo_line(photo: PhotoReview) -> str:
    if not photo.ok:
        return f"  {'-':>3}  error  {photo.result.path}: {photo.result.error}"
    room = f"{photo.room} {photo.room_probability:.0%}" if photo.room else "-"
    marks = " cover" if photo.cover else ""
    marks += f" tied with {len(photo.tied_with)}" if photo.tied_with else ""
    return f"  {photo.position:>3}  {photo.score:5.2f}  {room:<18} {photo.result.path}{marks}"


def _summarise_listings(reviewed: list[ListingReview], rules: Preset, html: Path | None) -> None:
    failing = sum(any(v == "fail" for v in listing.verdicts.values()) for listing in reviewed)
    err.print(
        f"Listings: {len(reviewed)}; {failing} fall short of the {rules.name} rules "
        "(photo count, rooms or cover).",
        highlight=False,
    )
    if html is not None:
        err.print(f"Contact sheet written to {html}", highlight=False)
