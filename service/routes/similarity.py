"""GET/POST /similar, POST /search: stored tracks near a track or an upload, or best matching tags."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from service.deps import SettingsDep, SimilarityDep, TaggerDep, require_api_key
from service.routes.tagging import UPLOAD_BODY, ResultId, _errors, tag_upload
from service.schemas import MAX_NEIGHBOURS, ModelRef, Neighbour, SearchRequest, SearchResult, SimilarResult
from tagger.similarity import Neighbour as Found
from tagger.similarity import TagQuery
from tagger.timings import StageTimes

router = APIRouter(tags=["similarity"], dependencies=[Depends(require_api_key)])

K = Annotated[int, Query(ge=1, le=MAX_NEIGHBOURS, description="How many tracks to return.")]
By = Annotated[
    Literal["embedding", "tags"],
    Query(description="Compare song embeddings (how it sounds) or song-level tag vectors (what it is)."),
]


def neighbours(found: list[Found]) -> list[Neighbour]:
    return [Neighbour(id=item.id, score=item.score) for item in found]


@router.get(
    "/similar/{result_id}", responses=_errors(401, 404, 422), summary="Stored tracks like a stored one"
)
async def similar(
    similarity: SimilarityDep, result_id: ResultId, k: K = 10, by: By = "embedding"
) -> SimilarResult:
    """The `k` stored results of the same model version nearest by cosine, without the query and its exact
    duplicates (the same audio stored again)."""
    record = await asyncio.to_thread(similarity.stored, result_id)
    found = await asyncio.to_thread(similarity.similar, record, by, k)
    model = ModelRef(name=record.model_name, version=record.model_version)
    return SimilarResult(query=result_id, model=model, by=by, results=neighbours(found))


@router.post(
    "/similar",
    responses=_errors(401, 404, 413, 415, 422, 503),
    openapi_extra=UPLOAD_BODY,
    summary="Stored tracks like an uploaded song",
)
async def similar_upload(
    request: Request,
    tagger: TaggerDep,
    similarity: SimilarityDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="Model name; the default model if omitted.")] = None,
    hop: Annotated[float | None, Query(gt=0, description="As for POST /tag.")] = None,
    k: K = 10,
    by: By = "embedding",
) -> SimilarResult:
    """Tag the upload as POST /tag does (it is stored, `query` is its id), then as GET /similar/{id}."""
    record = await tag_upload(request, tagger, settings, tagger.plan(model, hop), StageTimes())
    found = await asyncio.to_thread(similarity.similar, record, by, k)
    model_ref = ModelRef(name=record.model_name, version=record.model_version)
    return SimilarResult(query=record.id, model=model_ref, by=by, results=neighbours(found))


@router.post("/search", responses=_errors(400, 401, 404, 422), summary="Stored tracks by weighted tags")
async def search(body: SearchRequest, tagger: TaggerDep, similarity: SimilarityDep) -> SearchResult:
    """The `k` stored tracks of the model's served version with the highest Σ weight × song-level score,
    among those passing the filters. Tag names are the model's (GET /models), matched case-insensitively
    when unambiguous; an unknown tag is 422."""
    metadata = tagger.plan(body.model, None).model
    query = TagQuery(
        weights=body.weights,
        k=body.k,
        min_duration=body.min_duration,
        max_duration=body.max_duration,
        min_scores=body.min_scores,
    )
    found = await asyncio.to_thread(
        similarity.search, (metadata.name, metadata.version), metadata.tags, query
    )
    return SearchResult(
        model=ModelRef(name=metadata.name, version=metadata.version), results=neighbours(found)
    )
