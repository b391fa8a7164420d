"""POST /aggregate: the mean song vector and embedding over stored results (an artist, a curator)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, status

from service.deps import TaggerDep, require_api_key
from service.schemas import AggregateRequest, AggregateResult, ErrorDetail
from tagger.aggregate import lookup, mean_of

router = APIRouter(tags=["aggregation"], dependencies=[Depends(require_api_key)])


@router.post(
    "/aggregate",
    # 400: body is not JSON; 503: the results database is unreachable
    responses={code: {"model": ErrorDetail} for code in (400, 401, 404, 422, 503)},
    summary="Average stored results",
)
async def aggregate(body: AggregateRequest, tagger: TaggerDep) -> AggregateResult:
    """Average the song-level results of `ids` (one model's results only).

    Ids without a stored result (not tagged yet, or unknown) are left out and listed in `missing`:
    the answer is a partial mean with `count` telling how many it covers. Only when none of the
    ids is stored is the answer 404.
    """
    records, missing = await asyncio.to_thread(lookup, tagger.store, body.ids)
    if not records:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"none of the {len(missing)} ids has a stored result"
        )
    return AggregateResult.from_mean(mean_of(records, model_name=body.model), missing=missing)
