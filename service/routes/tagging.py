"""POST /tag, GET /tags/{id}, GET /taggram/{id}: tag a song and read the stored results back."""

from __future__ import annotations

import asyncio
import time
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
from tagger.timings import StageTimes
from tagger.vocabulary import ALL, select_vocabulary, vocabulary_columns

MAX_TOP_K = 1000
UPLOAD_FIELD = "file"

router = APIRouter(tags=["tagging"], dependencies=[Depends(require_api_key)])

ResultId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The `id` returned by POST /tag.")]
TopK = Annotated[
    int,
    Query(ge=1, le=MAX_TOP_K, description="How many of the highest-scoring tags `top` lists (at most all)."),
]

Vocabulary = Annotated[
    str,
    Query(
        pattern=r"^[A-Za-z0-9_]+$",
        description="For a model that answers several vocabularies (e.g. `music_student`: `msd`, `mtt`), "
        "only this one's tags; `all` (default) returns every tag, named `<vocabulary>:<tag>`. "
        "One forward pass and one stored result serve every choice.",
    ),
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
    response_model=TagResult,
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
    vocabulary: Vocabulary = ALL,
) -> Response:
    """Cut the song into the model's windows, score each, and return the mean over windows.

    The same file with the same model version and hop returns the stored result without recomputing.
    The `Server-Timing` header tells where the time went: upload, lookup, decode (its CPU time as
    `decode-cpu`), model, pooling, store, serialisation, in milliseconds.
    """
    plan = tagger.plan(model, hop)
    vocabulary_columns(plan.model.tags, vocabulary, model_name=plan.model.name)  # refuse before the upload
    times = StageTimes()
    record = await tag_upload(request, tagger, settings, plan, times)
    with times.stage("serialisation"):
        body = TagResult.from_record(
            select_vocabulary(record, vocabulary),
            top_k=top_k,
            taggram_url=request.url_for("get_taggram", result_id=record.id).path,
        ).model_dump_json()
    return Response(body, media_type="application/json", headers={"Server-Timing": times.server_timing()})


async def tag_upload(
    request: Request, tagger: TaggingService, settings: Settings, plan: TagPlan, times: StageTimes
) -> TagRecord:
    """The stored result for the upload (computed if new): the work of POST /tag, shared by POST /similar."""
    upload_started = time.perf_counter()
    async with receive_upload(
        request.stream(),
        request.headers,
        field_name=UPLOAD_FIELD,
        max_bytes=settings.max_upload_bytes,
        directory=settings.upload_dir,
    ) as upload:
        times.add("upload", time.perf_counter() - upload_started)
        return await tagger.tag(plan, upload.path, upload.sha256, times)


async def _stored(tagger: TaggingService, result_id: str) -> TagRecord:
    record = await tagger.lookup(result_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no result with id {result_id!r}")
    return record


@router.get("/tags/{result_id}", responses=_errors(401, 404, 422, 503), summary="A stored song-level result")
async def get_tags(
    request: Request, tagger: TaggerDep, result_id: ResultId, top_k: TopK = 10, vocabulary: Vocabulary = ALL
) -> TagResult:
    record = await _stored(tagger, result_id)
    return TagResult.from_record(
        select_vocabulary(record, vocabulary),
        top_k=top_k,
        taggram_url=request.url_for("get_taggram", result_id=record.id).path,
    )


@router.get(
    "/taggram/{result_id}",
    response_model=Taggram,
    responses={
        **_errors(401, 404, 422, 503),
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
    vocabulary: Vocabulary = ALL,
) -> Taggram | Response:
    record = select_vocabulary(await _stored(tagger, result_id), vocabulary)
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
