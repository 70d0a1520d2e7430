"""``photoscore serve``: score photos over HTTP (FastAPI + uvicorn, from the ``serve`` extra)."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated

import typer
from pydantic import ValidationError

from photoscore.cli.console import err, fail, parse_weights, warn_if_untrained
from photoscore.images import DEFAULT_MAX_PIXELS
from photoscore.scoring.ensemble import EnsembleMode, model_weights
from photoscore.scoring.listing import DEFAULT_FLAG_BELOW
from photoscore.scoring.onnx_model import ModelFileError, read_card
from photoscore.scoring.registry import model_files

EXTRAS = ("fastapi", "uvicorn", "python_multipart")
API_KEY_ENV = "PHOTOSCORE_API_KEY"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def serve(
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="A model.onnx file or installed model name; repeat for several."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--model-weights", help="One weight per --model, comma-separated (default: equal)."),
    ] = None,
    ensemble: Annotated[
        EnsembleMode, typer.Option(help="Combine models by their distributions, or their means and stds.")
    ] = "distribution",
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes, each with its own models.")] = 1,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Photos per model run, gathered across concurrent requests.")
    ] = 8,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a batch waits for more photos before it runs.")
    ] = 5.0,
    max_file_mb: Annotated[float, typer.Option(min=0.001, help="Largest photo accepted (MiB).")] = 20.0,
    max_request_mb: Annotated[float, typer.Option(min=0.001, help="Largest request accepted (MiB).")] = 100.0,
    max_photos: Annotated[int, typer.Option(min=1, help="Most photos in one request.")] = 100,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Most pixels (width x height) in one photo; more is refused unread.")
    ] = DEFAULT_MAX_PIXELS,
    max_request_pixels: Annotated[
        int, typer.Option(min=1, help="Most pixels in all the photos of one request (413 before decoding).")
    ] = 2_000_000_000,
    decode_memory_mb: Annotated[
        float, typer.Option(min=1, help="Memory (MiB) for photos being decoded at once, per worker.")
    ] = 1536.0,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds to decode and score one request before a 503.")
    ] = 60.0,
    header_timeout: Annotated[
        float, typer.Option(min=0.001, help="Seconds for a request's line and headers to arrive (408).")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(min=0.001, help="Longest pause in the arrival of a request body (408).")
    ] = 20.0,
    api_key: Annotated[
        str | None,
        typer.Option(envvar=API_KEY_ENV, show_envvar=True, help="Require this key in the X-API-Key header."),
    ] = None,
    flag_below: Annotated[
        float, typer.Option(help="/v1/rank flags photos whose mean score (1..10) is below this.")
    ] = DEFAULT_FLAG_BELOW,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="ONNX Runtime threads per worker (default: cores / workers).",
        ),
    ] = None,
    limit_concurrency: Annotated[
        int | None, typer.Option(min=1, help="Answer 503 beyond this many connections at once, per worker.")
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level: debug, info, warning, error.")
    ] = "info",
) -> None:
    """Serve scores over HTTP: POST /v1/score and /v1/rank (multipart photos), GET /v1/models, /healthz,
    /readyz, a web page at / and API docs at /docs.

    Listens on 127.0.0.1 unless --host says otherwise. Concurrent requests share model runs.
    """
    missing = [name for name in EXTRAS if importlib.util.find_spec(name) is None]
    if missing:
        raise fail(
            f"serving needs the serve extra: pip install 'photoscore[serve]' (missing {', '.join(missing)})"
        )
    import uvicorn

    from photoscore.server.protocol import HeaderTimeoutProtocol
    from photoscore.server.settings import ServerSettings

    paths = _model_files(model)
    try:
        parsed = parse_weights(weights)
        model_weights(parsed, len(paths))
    except ValueError as exc:
        raise fail(f"--model-weights {weights}: {exc}") from exc
    try:
        settings = ServerSettings(
            models=paths,
            weights=parsed,
            ensemble=ensemble,
            max_batch=max_batch,
            max_wait_ms=max_wait_ms,
            max_file_mb=max_file_mb,
            max_request_mb=max_request_mb,
            max_photos=max_photos,
            max_pixels=max_pixels,
            max_request_pixels=max_request_pixels,
            decode_memory_mb=decode_memory_mb,
            timeout_s=timeout,
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
            api_key=api_key or None,
            flag_below=flag_below,
            threads=threads or max(1, (os.cpu_count() or 1) // workers),
        )
    except ValidationError as exc:
        raise fail(str(exc)) from exc
    if host not in LOOPBACK and not settings.api_key:
        err.print(
            f"[yellow]warning:[/yellow] listening on {host} without an API key (--api-key or ${API_KEY_ENV})."
        )
    settings.to_env()
    uvicorn.run(
        "photoscore.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        limit_concurrency=limit_concurrency,
        http=HeaderTimeoutProtocol,
    )


def _model_files(specs: list[str] | None) -> list[str]:
    """Model files for ``--model`` arguments (the bundled default without any), each checked to load."""
    try:
        paths = model_files(specs)
        for path in paths:
            warn_if_untrained(path.stem, read_card(path))
    except ModelFileError as exc:
        raise fail(str(exc)) from exc
    return [str(path.resolve()) for path in paths]
