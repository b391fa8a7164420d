"""FastAPI dependencies: settings, the lifespan's objects, and the API-key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tagger.metrics import Metrics
from tagger.settings import Settings
from tagger.similarity import SimilarityIndex
from tagger.tagging import TaggingService

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <TAGGER_API_KEY>`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <TAGGER_API_KEY>`")


def get_settings(request: Request) -> Settings:
    return request.state.settings


def get_tagger(request: Request) -> TaggingService:
    return request.state.tagger


def get_metrics(request: Request) -> Metrics:
    return request.state.metrics


def get_similarity(request: Request) -> SimilarityIndex:
    return request.state.similarity


SettingsDep = Annotated[Settings, Depends(get_settings)]
TaggerDep = Annotated[TaggingService, Depends(get_tagger)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
SimilarityDep = Annotated[SimilarityIndex, Depends(get_similarity)]


def require_api_key(
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    """Accept the request when no key is configured, or when either header carries the key."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    offered = [value.encode() for value in (bearer.credentials if bearer else None, api_key) if value]
    # compare_digest on every offered value: the time taken does not reveal how much matched.
    if not any([hmac.compare_digest(value, expected) for value in offered]):  # noqa: C419
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
