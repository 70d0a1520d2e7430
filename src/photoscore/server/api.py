"""The /v1 routes: score photos, rank a listing's photos, list the models."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from photoscore.review.output import listing_record, photo_record
from photoscore.review.presets import PresetError, get_preset, preset_names
from photoscore.review.results import ListingReview
from photoscore.scoring.listing import rank_groups
from photoscore.scoring.normalize import Method, Scale
from photoscore.scoring.output import result_record
from photoscore.scoring.results import ScoreResult
from photoscore.server.errors import error_response
from photoscore.server.service import ScoringService, TooManyPixels
from photoscore.server.uploads import read_uploads

router = APIRouter(prefix="/v1", tags=["scoring"])
Done = TypeVar("Done")


def get_service(request: Request) -> ScoringService:
    """The app's scoring service (a FastAPI dependency)."""
    return request.app.state.service


Service = Annotated[ScoringService, Depends(get_service)]
Photos = Annotated[
    list[UploadFile] | None,
    File(
        description="One or more photos (JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF), each a form file 'photos'."
    ),
]


@router.post("/score")
async def score(service: Service, photos: Photos = None) -> JSONResponse:
    """Score photos. `results` keeps the upload order, each with the fields of `photoscore score --json`
    (`path` and `image_id` come from the uploaded file name); a photo that cannot be scored has `error`.
    400 when no photo could be scored."""
    results = await _scored(service, photos)
    return _respond(results, {"results": [result_record(r, service.model_names) for r in results]})


@router.post("/rank")
async def rank(
    service: Service,
    photos: Photos = None,
    normalize: Annotated[Method, Query(description="Normalisation within the listing.")] = "minmax",
    scale: Annotated[Scale, Query(description="Range of normalized_score.")] = "0-1",
    flag_below: Annotated[
        float | None,
        Query(allow_inf_nan=False, description="Flag photos whose mean score (1..10) is below this."),
    ] = None,
    listing_id: Annotated[str | None, Query(max_length=200, description="Echoed as `group`.")] = None,
) -> JSONResponse:
    """Rank one listing's photos, as `photoscore rank` does: `photos` best first (failed ones last) with
    `normalized_score`, `rank` and their upload `index`; `cover` and `flagged` give upload indices."""
    results = await _scored(service, photos)
    ranking = next(rank_groups(results, [listing_id] * len(results), normalize, None, scale))
    index = {id(r): i for i, r in enumerate(results)}
    threshold = service.settings.flag_below if flag_below is None else flag_below
    cover = ranking.cover
    body = {
        "listing_id": listing_id,
        "normalize": normalize,
        "scale": scale,
        "flag_below": threshold,
        "cover": None if cover is None else index[id(cover)],
        "flagged": [index[id(r)] for r in ranking.flagged(threshold)],
        "photos": [
            {"index": index[id(r)], **result_record(r, service.model_names, ranked=True)}
            for r in ranking.results
        ],
    }
    return _respond(results, body)


@router.post("/review")
async def review(
    service: Service,
    photos: Photos = None,
    preset: Annotated[str, Query(description=f"Platform rules: {', '.join(preset_names())}.")] = "none",
    listing_id: Annotated[str | None, Query(max_length=200, description="Echoed as `listing`.")] = None,
) -> JSONResponse:
    """Review one listing's photos, as `photoscore review` does: `listing` (cover, order, the preset's
    verdicts, missing rooms, duplicates) and `photos` in the order to show them (failed ones last), each
    with its upload `index`, room, checks and reasons. Photos are named by their upload file names."""
    try:
        rules = get_preset(preset)
    except PresetError as exc:
        raise HTTPException(422, str(exc)) from None

    async def work() -> ListingReview:
        return await service.review(await read_uploads(photos, service.settings), listing_id, rules)

    listing = await _within_timeout(service, work())
    names = {p.index: p.result.path for p in listing.photos}
    body = {
        "listing": {
            **listing_record(listing, names),
            "cover_index": listing.cover.index if listing.cover else None,
        },
        "photos": [{"index": p.index, **photo_record(p, service.model_names, names)} for p in listing.photos],
    }
    return _respond([p.result for p in listing.photos], body)


@router.get("/models")
async def models(service: Service) -> dict[str, Any]:
    """The models that score, with their weights in the ensemble and their model cards."""
    scorer = service.scorer
    return {
        "ensemble": scorer.ensemble,
        "models": [
            {"name": m.name, "weight": float(w), "card": m.card.model_dump(mode="json")}
            for m, w in zip(scorer.models, scorer.weights, strict=True)
        ],
    }


async def _scored(service: ScoringService, photos: list[UploadFile] | None) -> list[ScoreResult]:
    """Read, decode and score the uploads within the request timeout (503 when it runs out; 413 for
    photos with more pixels in all than the request's budget)."""

    async def work() -> list[ScoreResult]:
        return await service.score(await read_uploads(photos, service.settings))

    return await _within_timeout(service, work())


async def _within_timeout(service: ScoringService, work: Awaitable[Done]) -> Done:
    """``work`` within the request timeout (503 when it runs out; 413 for photos with more pixels in all
    than the request's budget)."""
    timeout = service.settings.timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await work
    except TooManyPixels as exc:
        raise HTTPException(413, str(exc)) from None
    except TimeoutError:
        raise HTTPException(
            503,
            f"scoring took longer than the limit of {timeout:g} s; try again later or send fewer photos",
            headers={"Retry-After": "5"},
        ) from None


def _respond(results: list[ScoreResult], body: dict[str, Any]) -> JSONResponse:
    """200 with counts and ``body``; 400 with the same when no photo could be scored."""
    failed = sum(not r.ok for r in results)
    counts = {"scored": len(results) - failed, "failed": failed}
    if failed == len(results):
        return error_response(400, "no photo could be scored", **counts, **body)
    return JSONResponse({**counts, **body})
