"""The ``batch`` command: score a folder or a manifest of photos on a Ray cluster into a Parquet dataset
(see :mod:`photoscore.batch.job`). Ray is imported only when the command runs."""

from __future__ import annotations

import ipaddress
import logging
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from photoscore.cli.console import err, fail, load_models, load_normalizer, parse_weights, warn_if_untrained
from photoscore.cli.review import PresetFileOption, platform_rules
from photoscore.cli.score import (
    BatchSizeOption,
    EnsembleOption,
    ListingNormalizeOption,
    ModelOption,
    NormalizerOption,
    RecursiveOption,
    ScaleOption,
    WeightsOption,
)
from photoscore.review.presets import preset_names
from photoscore.scoring.ensemble import model_weights
from photoscore.scoring.normalize import Method, Normalizer
from photoscore.scoring.onnx_model import OnnxNimaModel

# The photos never pass through Ray's object store (actors fetch them), only small tables of locations
# and results; a local Ray gets a small store instead of 30% of the machine's memory, which decoding
# and the models can use.
LOCAL_OBJECT_STORE_BYTES = 512 * 1024**2


def batch(
    source: Annotated[
        str | None,
        typer.Argument(metavar="INPUT", help="A folder of photos, or a manifest (.csv or .parquet)."),
    ] = None,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output folder of the Parquet dataset (local, s3://, gs://).")
    ] = ...,  # required
    model: ModelOption = None,
    model_weights: WeightsOption = None,
    ensemble: EnsembleOption = "distribution",
    recursive: RecursiveOption = False,
    path_column: Annotated[
        str, typer.Option(help="Manifest column of photo paths, s3:// or gs:// URIs, or http(s) URLs.")
    ] = "path",
    listing_column: Annotated[
        str | None, typer.Option(help="Manifest column of listing ids: rank the photos of each listing.")
    ] = None,
    normalize: ListingNormalizeOption = None,
    normalizer: NormalizerOption = None,
    scale: ScaleOption = None,
    address: Annotated[
        str | None,
        typer.Option(
            envvar="RAY_ADDRESS",
            help="Join this Ray cluster (auto, or HOST:6379); default: $RAY_ADDRESS, else a local Ray.",
        ),
    ] = None,
    actors: Annotated[
        int | None, typer.Option(min=1, help="Scoring actors (default: the cluster's CPUs / --threads).")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="CPUs (decoding and model threads) per actor.")] = 2,
    batch_size: BatchSizeOption = 32,
    shard_size: Annotated[
        int, typer.Option(min=1, help="Photos per actor call and per part file (fixed for a job).")
    ] = 500,
    fetch_threads: Annotated[int, typer.Option(min=1, help="Download threads per actor for URIs.")] = 16,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds allowed per download attempt.")] = 30.0,
    attempts: Annotated[int, typer.Option(min=1, help="Download attempts per photo.")] = 3,
    review: Annotated[
        bool,
        typer.Option(
            help="Review each photo (room, checks, hashes, embedding) and decide each listing "
            "(--listing-column, else the photo's folder) into OUT/_listings/."
        ),
    ] = False,
    preset: Annotated[
        str, typer.Option(help=f"Platform rules for --review: {', '.join(preset_names())}.")
    ] = "none",
    preset_file: PresetFileOption = None,
    duplicates: Annotated[
        bool,
        typer.Option(
            help="With --review: find photos reused across listings into OUT/_duplicates/ (pairs) and "
            "OUT/_duplicate_counts/ (per listing)."
        ),
    ] = False,
    duplicates_only: Annotated[
        bool,
        typer.Option(
            help="Only the duplicate search, from the hashes and embeddings stored in OUT (no INPUT)."
        ),
    ] = False,
    duplicate_bits: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=32,
            help="Bits of each embedding signature of the duplicate search "
            "(default: log2(photos / 16), at least 12).",
        ),
    ] = None,
    duplicate_tables: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Embedding signatures per photo (default: enough for recall 0.97 at cosine 0.93; "
            "0: the pHash bands alone).",
        ),
    ] = None,
    allow_network: Annotated[
        list[str] | None,
        typer.Option(
            help="Trust this network (CIDR) for downloads although link-local, e.g. 169.254.10.0/24; "
            "repeat for several (link-local addresses, where cloud metadata services answer, are refused)."
        ),
    ] = None,
) -> None:
    """Score many photos on a Ray cluster into a Parquet dataset; a rerun resumes a killed job.

    Every input photo appears once in OUT: image_id, path, scores, error, the manifest's other columns,
    and with --listing-column normalized_score, rank and group per listing, as `photoscore rank` gives.
    """
    from photoscore.batch.inputs import InputError
    from photoscore.batch.job import BatchJob, JobError, JobOptions

    if duplicates_only:
        _duplicates_only(out, address, duplicate_bits, duplicate_tables)
        return
    if source is None:
        raise fail("give INPUT (a folder or a manifest), or --duplicates-only")
    if duplicates and not review:
        raise fail("--duplicates compares the hashes and embeddings of a review: add --review")

    if review and (normalize is not None or normalizer is not None or scale is not None):
        raise fail(
            "--review ranks within listings by the review's rules: no --normalize, --normalizer, --scale"
        )
    if preset_file is not None and not review:
        raise fail("--preset-file gives the rules of a review: add --review")
    rules = platform_rules(preset, preset_file) if preset_file is not None else preset
    if preset_file is None and preset not in preset_names():
        raise fail(f"--preset {preset}: one of {', '.join(preset_names())}")
    if listing_column is None and (normalize is not None or (scale is not None and normalizer is None)):
        raise fail("--normalize and --scale rank within listings: give --listing-column (or --normalizer)")
    models, weights = _models(model, model_weights)
    files = [m.path for m in models]
    fitted = _normalizer(normalizer, normalize, models, weights)
    options = JobOptions(
        path_column=path_column,
        listing_column=listing_column,
        recursive=recursive,
        weights=weights,
        ensemble=ensemble,
        normalize=normalize or "minmax",
        normalizer=fitted,
        scale=scale or "0-1",
        shard_size=shard_size,
        batch_size=batch_size,
        threads=threads,
        actors=actors,
        fetch_threads=fetch_threads,
        timeout=timeout,
        attempts=attempts,
        review=review,
        preset=rules,
        duplicates=duplicates,
        duplicate_bits=duplicate_bits,
        duplicate_tables=duplicate_tables,
        allow_networks=_networks(allow_network or []),
    )
    try:
        job = BatchJob.prepare(source, out, files, options)
    except (InputError, JobError) as exc:
        raise fail(str(exc)) from exc
    startup = _connect(address)
    try:
        report = job.run()
    except JobError as exc:
        raise fail(str(exc)) from exc
    err.print(
        f"Scored {report.scored} of {report.photos} photos; {report.failed} could not be scored.",
        highlight=False,
    )
    for path, reason in report.failures:
        err.print(f"  {path}: {reason}", highlight=False, markup=False)
    if report.failed > len(report.failures):
        err.print(
            f"  ... and {report.failed - len(report.failures)} more (see the error column)", highlight=False
        )
    err.print(
        f"This run: {report.new} photos in {report.seconds:.1f} s ({report.photos_per_second:.1f} photos/s), "
        f"{report.resumed} already done; Ray start-up {startup:.1f} s.",
        highlight=False,
    )
    err.print(f"Results written to {out}", highlight=False)
    if duplicates:
        _print_pairs(job.state["duplicates"], out)
    if report.scored == 0:
        raise typer.Exit(1)


def _duplicates_only(out: str, address: str | None, bits: int | None, tables: int | None) -> None:
    """``--duplicates-only``: the search over the stored columns of the job in ``out``."""
    from photoscore.batch.job import JobError, duplicates_only

    started = time.monotonic()
    _connect(address)
    try:
        search = duplicates_only(out, bits, tables)
    except JobError as exc:
        raise fail(str(exc)) from exc
    _print_pairs(search, out)
    err.print(f"Duplicate search: {time.monotonic() - started:.1f} s.", highlight=False)


def _print_pairs(search: dict[str, Any], out: str) -> None:
    """The job file's record of a catalogue duplicate search, for people."""
    if search.get("resumed_steps"):
        err.print(f"Took up an interrupted search: {', '.join(search['resumed_steps'])} already done.")
    err.print(
        f"Found {search['pairs']} pairs of photos reused across listings: {out}/_duplicates/ "
        f"(counts per listing in {out}/_duplicate_counts/).",
        highlight=False,
    )


def _models(specs: list[str] | None, weights: str | None) -> tuple[list[OnnxNimaModel], list[float] | None]:
    """The models (loaded once here, to check them) and the parsed weights."""
    loaded = load_models(specs, threads=1)
    try:
        parsed = parse_weights(weights)
        model_weights(parsed, len(loaded))  # checks them
    except ValueError as exc:
        raise fail(f"--model-weights {weights}: {exc}") from exc
    for one in loaded:
        warn_if_untrained(one.name, one.card)
    return loaded, parsed


def _networks(specs: list[str]) -> list[str]:
    """``--allow-network`` values, checked (an address alone is a network of one)."""
    try:
        return [str(ipaddress.ip_network(spec, strict=False)) for spec in specs]
    except ValueError as exc:
        raise fail(f"--allow-network: {exc}") from exc


def _normalizer(
    path: Path | None, method: Method | None, models: list[OnnxNimaModel], weights: list[float] | None
) -> Normalizer | None:
    """The fitted normaliser in ``path``, checked against these models and weights."""
    names = [m.name for m in models]
    return load_normalizer(path, method, names, model_weights(weights, len(models)).tolist())


def _connect(address: str | None) -> float:
    """Join the cluster at ``address`` or start a local Ray; seconds it took. Progress bars and Ray's
    messages only on a terminal."""
    import ray
    from ray.data import DataContext

    started = time.monotonic()
    quiet = not err.is_terminal
    level = logging.WARNING if quiet else logging.INFO
    if address:
        ray.init(address=address, logging_level=level, log_to_driver=not quiet)
    else:
        ray.init(
            address="local",
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            include_dashboard=False,
            logging_level=level,
            log_to_driver=not quiet,
        )
    context = DataContext.get_current()
    context.enable_progress_bars = not quiet
    if quiet:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled"
        context.print_on_execution_start = False
    return time.monotonic() - started
