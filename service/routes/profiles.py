"""Profiles CRUD, and what a profile is near: other profiles (artist ↔ curator) and stored tracks."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from service.deps import SimilarityDep, TaggerDep, require_api_key
from service.routes.similarity import By, K, neighbours
from service.routes.tagging import _errors
from service.schemas import ModelRef, ProfileMatch, ProfileMatches, ProfileOut, ProfileRequest, SimilarResult
from tagger.profiles import (
    Aggregation,
    ProfileKind,
    matching_profiles,
    profile_records,
    profile_vector,
    save_profile,
    stored_profile,
)

router = APIRouter(tags=["profiles"], dependencies=[Depends(require_api_key)])

Name = Annotated[str, Path(min_length=1, max_length=200, description="The profile's name (any text).")]
AggregationQuery = Annotated[
    Aggregation,
    Query(
        description="How a profile's tracks become one vector: `mean` (default), `majority` (share of the "
        "tracks whose top tag each tag is) or `softmax` (mean of each track's tag odds, normalised)."
        " Embeddings are always averaged."
    ),
]
KindQuery = Annotated[ProfileKind | None, Query(description="Only profiles of this kind.")]


@router.put(
    "/profiles/{name}", responses=_errors(400, 401, 404, 409, 422), summary="Create or replace a profile"
)
async def put_profile(tagger: TaggerDep, name: Name, body: ProfileRequest) -> ProfileOut:
    """Every id must be stored (404 otherwise) and of one model version (409 otherwise)."""
    profile = await asyncio.to_thread(save_profile, tagger.store, name, body.kind, body.ids)
    return ProfileOut.from_profile(profile)


@router.get("/profiles", responses=_errors(401, 422), summary="Every profile")
async def list_profiles(tagger: TaggerDep, kind: KindQuery = None) -> list[ProfileOut]:
    return [
        ProfileOut.from_profile(profile) for profile in await asyncio.to_thread(tagger.store.profiles, kind)
    ]


@router.get("/profiles/{name}", responses=_errors(401, 404, 422), summary="A profile")
async def get_profile(tagger: TaggerDep, name: Name) -> ProfileOut:
    return ProfileOut.from_profile(await asyncio.to_thread(stored_profile, tagger.store, name))


@router.delete(
    "/profiles/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_errors(401, 404, 422),
    summary="Delete a profile",
)
async def delete_profile(tagger: TaggerDep, name: Name) -> Response:
    await asyncio.to_thread(stored_profile, tagger.store, name)
    await asyncio.to_thread(tagger.store.delete_profile, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/profiles/{name}/matches", responses=_errors(401, 404, 422), summary="Profiles closest to a profile"
)
async def profile_matches(
    tagger: TaggerDep,
    name: Name,
    kind: KindQuery = None,
    by: Annotated[
        Literal["embedding", "tags"], Query(description="Compare tag identities or embeddings.")
    ] = "tags",
    aggregation: AggregationQuery = "mean",
    k: K = 10,
) -> ProfileMatches:
    """The other profiles of the same model version ranked by the cosine of their vectors: the report's
    artist ↔ curator signal (e.g. an artist's profile with `kind=curator`)."""
    profile = await asyncio.to_thread(stored_profile, tagger.store, name)
    ranked = await asyncio.to_thread(
        matching_profiles, tagger.store, profile, by, aggregation, kind=kind, k=k
    )
    return ProfileMatches(
        profile=name,
        by=by,
        aggregation=aggregation,
        matches=[ProfileMatch(name=other.name, kind=other.kind, score=score) for other, score in ranked],
    )


@router.get(
    "/profiles/{name}/similar", responses=_errors(401, 404, 422), summary="Stored tracks near a profile"
)
async def profile_similar(
    tagger: TaggerDep,
    similarity: SimilarityDep,
    name: Name,
    k: K = 10,
    by: By = "embedding",
    aggregation: AggregationQuery = "mean",
) -> SimilarResult:
    """The stored tracks nearest the profile's vector, without its own tracks and their duplicates."""
    profile = await asyncio.to_thread(stored_profile, tagger.store, name)
    records = await asyncio.to_thread(profile_records, tagger.store, profile)
    model = (profile.model_name, profile.model_version)
    found = await asyncio.to_thread(
        similarity.nearest, model, profile_vector(records, by, aggregation), by, k, exclude=profile.ids
    )
    return SimilarResult(
        query=None, model=ModelRef(name=model[0], version=model[1]), by=by, results=neighbours(found)
    )
