"""The FastAPI app: routes, probes, the page, limits and the optional API key, around one ScoringService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from photoscore import __version__
from photoscore.server import api, probes
from photoscore.server.auth import ApiKeyGate, api_key_check
from photoscore.server.errors import install_error_handlers
from photoscore.server.limits import BodyLimit
from photoscore.server.page import install_page
from photoscore.server.protocol import HEADER_TIMEOUT_STATE
from photoscore.server.service import ScoringService
from photoscore.server.settings import ServerSettings

DESCRIPTION = """Score photos for aesthetic and technical quality with NIMA models, and rank a listing's
photos: normalised scores, ranks, a suggested cover photo and flagged weak photos. Photos are sent as
multipart form files named `photos`; the server never reads files by path."""


def create_app(settings: ServerSettings) -> FastAPI:
    """An app scoring with the models of ``settings``; the models load here, the batcher starts with it."""
    service = ScoringService(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        service.start()
        try:
            yield {HEADER_TIMEOUT_STATE: settings.header_timeout_s}  # read by the HTTP protocol
        finally:
            await service.stop()

    app = FastAPI(title="photoscore", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    install_error_handlers(app)
    app.include_router(
        api.router, dependencies=[Depends(api_key_check(settings.api_key))] if settings.api_key else []
    )
    app.include_router(probes.router)
    install_page(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, idle_timeout=settings.body_timeout_s)
    if settings.api_key:  # outermost: a refused request's body is never read
        app.add_middleware(ApiKeyGate, key=settings.api_key)
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory each worker process calls: the app of the settings `photoscore serve` stored."""
    return create_app(ServerSettings.from_env())
