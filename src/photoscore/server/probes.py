"""Load-balancer probes: /healthz (the process answers) and /readyz (it can score now)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from photoscore import __version__
from photoscore.server.api import Service

router = APIRouter(tags=["probes"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: 200 while the process serves requests, with photoscore's version."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz")
async def readyz(service: Service) -> JSONResponse:
    """Readiness: 200 once the models are loaded and the batcher runs, 503 before and while stopping.
    `decoding` photos are being decoded and `to_decode` wait for a decoding thread; `queued` photos wait
    for the model; `batches` and `photos` count model runs since the start."""
    batcher = service.batcher
    body: dict[str, Any] = {
        "status": "ready" if service.ready else "not ready",
        "models": service.model_names,
        "decoding": service.decoder.running,
        "to_decode": service.decoder.waiting,
        "queued": batcher.queued,
        "batches": batcher.batches,
        "photos": batcher.items,
    }
    return JSONResponse(body, status_code=200 if service.ready else 503)
