"""The scoring commands: ``score``, ``rank`` and ``normalizer fit`` (registered on the app in cli/main.py)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress

from photoscore.atomic import atomic_open
from photoscore.cli.console import (
    err,
    fail,
    load_models,
    load_normalizer,
    names_stdout,
    parse_weights,
    printable,
    progress_bar,
    warn_if_untrained,
)
from photoscore.digest import file_sha256
from photoscore.images import DEFAULT_MAX_PIXELS, find_images
from photoscore.scoring.contact_sheet import ContactSheet
from photoscore.scoring.engine import Scorer
from photoscore.scoring.ensemble import EnsembleMode
from photoscore.scoring.listing import (
    DEFAULT_FLAG_BELOW,
    GroupBy,
    ManifestError,
    Ranking,
    group_labels,
    normalize_each,
    rank_groups,
    read_manifest,
    score_groups,
)
from photoscore.scoring.normalize import Method, Normalizer, Scale
from photoscore.scoring.output import WRITERS, JsonListWriter
from photoscore.scoring.results import DECIMALS, ScoreResult
from photoscore.scoring.resume import (
    PartialFileError,
    PartialRun,
    partial_path,
    photo_list_digest,
)

ModelOption = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="A model.onnx file or installed model name; repeat for several."),
]
WeightsOption = Annotated[
    str | None,
    typer.Option(
        "--model-weights", help="One weight per --model, comma-separated, e.g. 0.7,0.3 (default: equal)."
    ),
]
EnsembleOption = Annotated[
    EnsembleMode,
    typer.Option(help="Combine models by averaging their distributions, or their mean scores and stds."),
]
NormalizerOption = Annotated[
    Path | None,
    typer.Option(help="A norm.json from `photoscore normalizer fit`: scores comparable across batches."),
]
ScaleOption = Annotated[Scale | None, typer.Option(help="Range of normalized_score (default: 0-1).")]
ManifestOption = Annotated[
    Path | None,
    typer.Option(help="A CSV listing_id,path (paths relative to its folder): photos and their listings."),
]
ListingNormalizeOption = Annotated[
    Method | None, typer.Option(help="Normalisation within each listing (default: minmax).")
]
RecursiveOption = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
BatchSizeOption = Annotated[int, typer.Option(min=1, help="Photos per model run.")]
WorkersOption = Annotated[int | None, typer.Option(min=1, help="Decoding threads (default: CPU count).")]
MaxPixelsOption = Annotated[
    int,
    typer.Option(min=1, help="Refuse photos with more pixels than this (from the header, before decoding)."),
]


def score(
    paths: Annotated[list[Path] | None, typer.Argument(help="Photos and/or folders of photos.")] = None,
    model: ModelOption = None,
    recursive: RecursiveOption = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write results to FILE.json, FILE.jsonl or FILE.csv (whole, at the end)."
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a killed run: keep the photos in FILE.partial, score the rest.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON list on standard output.")] = False,
    model_weights: WeightsOption = None,
    ensemble: EnsembleOption = "distribution",
    normalize: Annotated[
        Method | None,
        typer.Option(help="Normalise within each group and rank (default when ranking: minmax)."),
    ] = None,
    normalizer: NormalizerOption = None,
    group_by: Annotated[
        GroupBy | None, typer.Option(help="Groups to rank within: parent folder, or none (all photos).")
    ] = None,
    manifest: ManifestOption = None,
    scale: ScaleOption = None,
    batch_size: BatchSizeOption = 32,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Score photos; results keep the input order. Exits non-zero only when nothing could be scored.

    --normalize, --normalizer, --group-by, --manifest or --scale add normalized_score, rank and group.

    By default they rank within each parent folder, MinMax-normalised; results wait for their group.

    With -o, FILE appears whole when the run ends; until then FILE.partial keeps every photo scored, and
    --resume after a kill scores only the rest.
    """
    if output is not None and output.suffix.lower() not in WRITERS:
        raise fail(f"{output}: unknown output format; use a .json, .jsonl or .csv file name")
    if resume and output is None:
        raise fail("--resume continues a run that writes its results with -o FILE: give -o")
    if output is not None:
        _check_output(output)
    ranked = any(o is not None for o in (normalize, normalizer, group_by, manifest, scale))
    files, groups = _photos_and_groups(paths, manifest, group_by, recursive)
    scorer = _scorer(model, model_weights, ensemble, batch_size, workers, max_pixels)
    fitted = _scorer_normalizer(normalizer, normalize, scorer)
    names = [m.name for m in scorer.models]

    def finish(results: Iterable[ScoreResult]) -> Iterator[ScoreResult]:
        """Normalised and ranked as asked (ranks wait for whole groups)."""
        if fitted is not None and group_by == "none":
            return normalize_each(results, fitted, scale or "0-1")
        if ranked:
            return score_groups(results, groups, normalize or "minmax", fitted, scale or "0-1")
        return iter(results)

    partial = None
    if output is not None:
        options = {
            "--normalize": normalize,
            "--group-by": group_by,
            "--scale": scale,
            "--manifest": manifest is not None,
        }
        settings = _run_settings(scorer, normalizer, files, groups, options)
        partial = _open_partial(output, resume, settings, files)
    kept = partial.done if partial else 0
    failures: list[ScoreResult] = []
    try:
        with ExitStack() as stack:
            stdout = JsonListWriter(names_stdout(), names, ranked) if as_json else None
            results: Iterator[ScoreResult] = stack.enter_context(_scored(scorer, files[kept:]))
            if partial is not None:
                results = chain(partial.results(limit=kept), partial.record(results))
            for result in finish(results):
                if stdout is not None:
                    stdout.write(result)
                else:
                    _print_line(result, ranked)
                if result.error:
                    failures.append(result)
            if stdout is not None:
                stdout.close()
    except KeyboardInterrupt:
        if partial is None:
            raise
        partial.close()
        raise fail(
            f"interrupted; {partial.done} of {len(files)} photos are kept in {partial.path}: "
            "rerun with --resume to score the rest",
            code=130,
        ) from None
    if partial is not None and output is not None:
        try:
            _write_output(output, partial, finish(partial.results()), names, ranked)
        except OSError as exc:  # a full disk, a folder made read-only meanwhile ...
            raise fail(
                f"cannot write {output} ({exc.strerror or exc}); the scores of every photo are kept in "
                f"{partial.path}: rerun with --resume once {output} can be written"
            ) from None
    _summarise(len(files), failures, output, kept)
    if len(failures) == len(files):
        raise typer.Exit(1)


def _write_output(
    output: Path, partial: PartialRun, results: Iterable[ScoreResult], names: list[str], ranked: bool
) -> None:
    """Write ``output`` whole from the finished partial file (temporary file, then rename); delete the
    partial file once ``output`` is in place (it stays locked until then)."""
    partial.flush()
    with atomic_open(output) as stream:
        writer = WRITERS[output.suffix.lower()](stream, names, ranked)
        for result in results:
            writer.write(result)
        writer.close()
    partial.remove()


def _run_settings(
    scorer: Scorer,
    normalizer: Path | None,
    files: list[Path],
    groups: list[str | None],
    options: dict[str, object],
) -> dict[str, object]:
    """What a resumed run must share with the run it continues, by option name."""
    return {
        "--model": [{"name": m.name, "sha256": file_sha256(m.path)} for m in scorer.models],
        "--model-weights": [round(w, 12) for w in scorer.weights.tolist()],
        "--ensemble": scorer.ensemble,
        "--max-pixels": scorer.max_pixels,
        "--normalizer": file_sha256(normalizer) if normalizer else None,
        **options,
        "photos": {"count": len(files), "sha256": photo_list_digest(files, groups)},
    }


def _check_output(output: Path, option: str = "-o", example: str = "scores.json") -> None:
    """Refuse, before anything is scored, an output file (``option``) that could not be written at the end."""
    if output.is_dir():
        raise fail(f"{output} is a folder: {option} needs a file name, such as {output / example}")
    folder = output.parent
    while not folder.exists() and folder != folder.parent:  # the folders to be made, up to one that is
        folder = folder.parent
    if not folder.is_dir():
        raise fail(f"{output}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise fail(f"{output}: cannot write in {folder} (permission denied or a read-only file system)")


def _open_partial(output: Path, resume: bool, settings: dict[str, object], files: list[Path]) -> PartialRun:
    """The partial file of ``output``: new, or (with ``--resume``) the one a killed run left."""
    path = partial_path(output)
    if resume and path.exists():
        try:
            return PartialRun.resume(path, settings, files)
        except (PartialFileError, OSError) as exc:
            raise fail(f"--resume: {exc}") from exc
    if resume:
        err.print(f"Nothing to resume: no {path}; scoring every photo.", highlight=False, markup=False)
    try:
        return PartialRun.start(path, settings)
    except PartialFileError as exc:
        raise fail(str(exc)) from exc
    except FileExistsError:
        raise fail(
            f"{path} holds an unfinished run for {output}: add --resume to continue it, "
            "or delete it to start afresh"
        ) from None
    except OSError as exc:
        raise fail(f"cannot write {path} ({exc.strerror or exc})") from None


def _photos_and_groups(
    paths: list[Path] | None, manifest: Path | None, group_by: GroupBy | None, recursive: bool
) -> tuple[list[Path], list[str | None]]:
    """The photos to score and each one's group, from paths (grouped by ``group_by``) or a manifest."""
    if manifest is not None:
        if paths or group_by is not None:
            raise fail("--manifest names the photos and their groups: give no photo paths or --group-by")
        try:
            files, groups = read_manifest(manifest)
        except ManifestError as exc:
            raise fail(str(exc)) from exc
        if not files:
            raise fail(f"{manifest}: no photos listed", code=1)
        _warn_repeated(manifest, files, groups)
        return files, groups
    if not paths:
        raise fail("give photos or folders of photos, or --manifest listings.csv")
    files = _find_photos(paths, recursive)
    return files, group_labels(files, group_by or "parent")


def _warn_repeated(manifest: Path, files: list[Path], groups: list[str | None]) -> None:
    """Say which photos a manifest lists more than once in the same listing, and what happens to them."""
    repeated = [(g, f, n) for (g, f), n in Counter(zip(groups, files, strict=True)).items() if n > 1]
    for group, file, times in repeated[:20]:
        err.print(
            f"[yellow]warning:[/yellow] {escape(printable(str(manifest)))}: "
            f"{escape(printable(str(file)))} is listed {times} times in listing {escape(printable(str(group)))}; "
            "each row is scored and ranked (with equal ranks)",
            highlight=False,
        )
    if len(repeated) > 20:
        err.print(
            f"[yellow]warning:[/yellow] ... and {len(repeated) - 20} more repeated photos", highlight=False
        )


def _find_photos(paths: list[Path], recursive: bool) -> list[Path]:
    try:
        files = list(find_images(paths, recursive=recursive, on_unreadable=_warn_unreadable))
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    if not files:
        hint = "" if recursive else " (with -r, sub-folders too)"
        raise fail("no photos found in " + ", ".join(map(str, paths)) + hint, code=1)
    return files


def _warn_unreadable(folder: Path, exc: OSError) -> None:
    err.print(
        f"[yellow]warning:[/yellow] {escape(printable(str(folder)))}: cannot list the folder "
        f"({escape(exc.strerror or str(exc))}); its photos are skipped",
        highlight=False,
    )


def _scorer(
    specs: list[str] | None,
    weights: str | None,
    ensemble: EnsembleMode,
    batch_size: int,
    workers: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Scorer:
    """Load the models into a Scorer, warning about untrained ones."""
    try:
        parsed = parse_weights(weights)
        scorer = Scorer(
            load_models(specs),
            batch_size=batch_size,
            workers=workers,
            max_pixels=max_pixels,
            weights=parsed,
            ensemble=ensemble,
        )
    except ValueError as exc:
        raise fail(f"--model-weights {weights}: {exc}" if weights else str(exc)) from exc
    for loaded in scorer.models:
        warn_if_untrained(loaded.name, loaded.card)
    return scorer


def _scorer_normalizer(path: Path | None, method: Method | None, scorer: Scorer) -> Normalizer | None:
    """The fitted normaliser in ``path``, checked against the scorer's models and weights."""
    return load_normalizer(path, method, [m.name for m in scorer.models], scorer.weights.tolist())


@contextmanager
def _scored(scorer: Scorer, files: list[Path]) -> Iterator[Iterator[ScoreResult]]:
    """Score ``files`` with a progress bar on a terminal; leaving the block (an interrupt too) stops the
    decoding threads at once."""
    with progress_bar("scoring") as progress:
        task = progress.add_task("score", total=len(files))
        results = scorer.score(files)
        try:
            yield _track(results, progress, task)
        finally:
            results.close()


def _track(results: Iterator[ScoreResult], progress: Progress, task: int) -> Iterator[ScoreResult]:
    for result in results:
        progress.advance(task)
        yield result


def _print_line(result: ScoreResult, ranked: bool = False) -> None:
    """One photo on one line of standard output (control characters in its name escaped)."""
    if result.error:
        print(printable(f"  error  {result.path}: {result.error}"))
        return
    line = f"{result.mean_score_prediction:5.2f} ± {result.std_score_prediction:4.2f}  "
    if ranked:
        rank = "" if result.rank is None else f"#{result.rank}"
        line += f"{result.normalized_score:7.2f} {rank:>5}  "
    print(printable(line + result.path))


def _summarise(total: int, failures: list[ScoreResult], output: Path | None, kept: int = 0) -> None:
    scored = total - len(failures)
    err.print(f"Scored {scored} of {total} photos; {len(failures)} could not be scored.", highlight=False)
    if kept:
        err.print(
            f"{kept} of them were kept from the interrupted run, {total - kept} scored now.", highlight=False
        )
    for failure in failures[:20]:
        err.print(printable(f"  {failure.path}: {failure.error}"), highlight=False, markup=False)
    if len(failures) > 20:
        err.print(f"  ... and {len(failures) - 20} more (see the error field of the output)", highlight=False)
    if output is not None:
        err.print(f"Results written to {output}", highlight=False)


def rank(
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
    normalize: ListingNormalizeOption = None,
    normalizer: NormalizerOption = None,
    scale: ScaleOption = None,
    flag_below: Annotated[
        float, typer.Option(help="Flag photos whose mean score (1..10) is below this.")
    ] = DEFAULT_FLAG_BELOW,
    html: Annotated[
        Path | None, typer.Option(help="Write a contact sheet (one HTML file, thumbnails inside) here.")
    ] = None,
    batch_size: BatchSizeOption = 32,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Rank each listing's photos best first, name a cover photo and flag weak photos.

    A listing is a folder of photos, or a listing_id of --manifest.

    Exits non-zero only when nothing could be scored.
    """
    if html is not None:
        _check_output(html, "--html", "sheet.html")
    files, groups = _photos_and_groups(paths, manifest, None, recursive)
    scorer = _scorer(model, model_weights, ensemble, batch_size, workers, max_pixels)
    fitted = _scorer_normalizer(normalizer, normalize, scorer)
    failures: list[ScoreResult] = []
    flagged = listings = 0
    how = (
        "the normaliser " + str(normalizer) if normalizer else f"{normalize or 'minmax'} within each listing"
    )
    about = (
        f"Models {', '.join(m.name for m in scorer.models)}; scores {how}, scale {scale or '0-1'} "
        f"(mean ± std on 1..10 in brackets); flagged: mean score below {flag_below:g}."
    )
    with ExitStack() as stack:
        sheet = stack.enter_context(ContactSheet(html, about=about, flag_below=flag_below)) if html else None
        results = stack.enter_context(_scored(scorer, files))
        for ranking in rank_groups(results, groups, normalize or "minmax", fitted, scale or "0-1"):
            _print_ranking(ranking, flag_below)
            if sheet is not None:
                sheet.add(ranking)
            failures += [r for r in ranking.results if not r.ok]
            flagged += len(ranking.flagged(flag_below))
            listings += 1
    _summarise(len(files), failures, None)
    err.print(f"Listings: {listings}; photos flagged below {flag_below:g}: {flagged}.", highlight=False)
    if html is not None:
        err.print(f"Contact sheet written to {html}", highlight=False)
    if len(failures) == len(files):
        raise typer.Exit(1)


def _print_ranking(ranking: Ranking, flag_below: float) -> None:
    cover = ranking.cover
    print(printable(f"{ranking.title}, cover {cover.path if cover else '(none: no photo could be scored)'}"))
    print(f"  {'rank':>4}  {'score':>7}  {'mean ± std':^12}  photo")
    flagged = {id(r) for r in ranking.flagged(flag_below)}
    for result in ranking.results:
        if not result.ok:
            print(printable(f"  {'-':>4}  {'-':>7}  {'error':<12}  {result.path}: {result.error}"))
            continue
        mark = "  cover" if result is cover else ""
        mark += f"  flagged: below {flag_below:g}" if id(result) in flagged else ""
        print(
            printable(
                f"  {result.rank:>4}  {result.normalized_score:7.2f}  {result.mean_score_prediction:5.2f} ± "
                f"{result.std_score_prediction:4.2f}  {result.path}{mark}"
            )
        )
    print()


def normalizer_fit(
    paths: Annotated[list[Path], typer.Argument(help="Reference photos and/or folders of photos.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the normaliser (norm.json).")],
    model: ModelOption = None,
    recursive: RecursiveOption = False,
    model_weights: WeightsOption = None,
    ensemble: EnsembleOption = "distribution",
    method: Annotated[Method, typer.Option(help="How scores are spread (see docs/rank.md).")] = "percentile",
    batch_size: BatchSizeOption = 32,
    workers: WorkersOption = None,
    max_pixels: MaxPixelsOption = DEFAULT_MAX_PIXELS,
) -> None:
    """Fit a normaliser on reference photos; `score --normalizer` and `rank --normalizer` apply it."""
    _check_output(out, "--out", "norm.json")
    files = _find_photos(paths, recursive)
    scorer = _scorer(model, model_weights, ensemble, batch_size, workers, max_pixels)
    means: list[float] = []
    failures: list[ScoreResult] = []
    with _scored(scorer, files) as results:
        for result in results:
            if result.ok:
                means.append(round(result.mean_score_prediction, DECIMALS))  # type: ignore[arg-type]
            else:
                failures.append(result)
    _summarise(len(files), failures, None)
    if len(set(means)) < 2:
        raise fail("a reference needs at least two photos with different scores", code=1)
    fitted = replace(
        Normalizer.fit(method, means),
        models=tuple(m.name for m in scorer.models),
        weights=tuple(scorer.weights.tolist()),
    )
    err.print(
        f"Fitted {method} on {len(means)} photos; normaliser written to {fitted.save(out)}", highlight=False
    )
