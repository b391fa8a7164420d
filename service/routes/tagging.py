"""POST /tag, GET /tags/{id}, GET /taggram/{id}: tag a song and read the stored results back."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response, status

from service.deps import SettingsDep, TaggerDep, require_api_key
from service.schemas import ErrorDetail, Taggram, TagResult
from service.taggram_png import render_taggram_png
from service.upload import receive_upload
from tagger.predictions import TagRecord
from tagger.settings import Settings
from tagger.song import TagPlan
from tagger.tagging import TaggingService

MAX_TOP_K = 1000
UPLOAD_FIELD = "file"

router = APIRouter(tags=["tagging"], dependencies=[Depends(require_api_key)])

ResultId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The `id` returned by POST /tag.")]
TopK = Annotated[
    int,
    Query(ge=1, le=MAX_TOP_K, description="How many of the highest-scoring tags `top` lists (at most all)."),
]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorDetail} for code in codes}


# The body is parsed by hand while it streams (see service.upload), so describe it for OpenAPI here.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [UPLOAD_FIELD],
                    "properties": {
                        UPLOAD_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "An audio file: WAV, FLAC, OGG/Opus, MP3, M4A/AAC, AIFF, …",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/tag",
    responses=_errors(401, 404, 413, 415, 422, 503),
    openapi_extra=UPLOAD_BODY,
    summary="Tag an uploaded song",
)
async def tag(
    request: Request,
    tagger: TaggerDep,
    settings: SettingsDep,
    model: Annotated[
        str | None, Query(description="Model name (see GET /models); the default model if omitted.")
    ] = None,
    top_k: TopK = 10,
    hop: Annotated[
        float | None,
        Query(
            gt=0,
            description="Seconds between window starts; if omitted, the model's `default_hop_seconds` "
            "(GET /models): the window length, or musicnn's own 187-frame step for its ports.",
        ),
    ] = None,
) -> TagResult:
    """Cut the song into the model's windows, score each, and return the mean over windows.

    The same file with the same model version and hop returns the stored result without recomputing.
    """
    record = await tag_upload(request, tagger, settings, tagger.plan(model, hop))
    return TagResult.from_record(
        record, top_k=top_k, taggram_url=request.url_for("get_taggram", result_id=record.id).path
    )


async def tag_upload(
    request: Request, tagger: TaggingService, settings: Settings, plan: TagPlan
) -> TagRecord:
    """The stored result for the upload (computed if new): the work of POST /tag, shared by POST /similar."""
    async with receive_upload(
        request.stream(),
        request.headers,
        field_name=UPLOAD_FIELD,
        max_bytes=settings.max_upload_bytes,
        directory=settings.upload_dir,
    ) as upload:
        return await tagger.tag(plan, upload.path, upload.sha256)


async def _stored(tagger: TaggingService, result_id: str) -> TagRecord:
    record = await tagger.lookup(result_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no result with id {result_id!r}")
    return record


@router.get("/tags/{result_id}", responses=_errors(401, 404, 422), summary="A stored song-level result")
async def get_tags(request: Request, tagger: TaggerDep, result_id: ResultId, top_k: TopK = 10) -> TagResult:
    record = await _stored(tagger, result_id)
    return TagResult.from_record(
        record, top_k=top_k, taggram_url=request.url_for("get_taggram", result_id=record.id).path
    )


@router.get(
    "/taggram/{result_id}",
    response_model=Taggram,
    responses={
        **_errors(401, 404, 422),
        200: {"content": {"image/png": {}}, "description": "JSON, or a PNG heatmap"},
    },
    summary="Tags over time for a stored result",
)
async def get_taggram(
    tagger: TaggerDep,
    result_id: ResultId,
    output_format: Annotated[
        Literal["json", "png"], Query(alias="format", description="`png` draws a tags × time heatmap.")
    ] = "json",
) -> Taggram | Response:
    record = await _stored(tagger, result_id)
    if output_format == "json":
        return Taggram.from_record(record)
    png = await asyncio.to_thread(
        render_taggram_png,
        tags=record.tags,
        times=record.times,
        window_seconds=record.window_seconds,
        scores=record.taggram,
        title=f"{record.model_name} v{record.model_version} · {record.id[:12]}",
    )
    return Response(png, media_type="image/png")
