"""GET /models: what is served, with vocabulary, front-end configuration, device and version."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.deps import TaggerDep, require_api_key
from service.schemas import ErrorDetail, ModelInfo

router = APIRouter(tags=["models"], dependencies=[Depends(require_api_key)])


@router.get("/models", responses={401: {"model": ErrorDetail}}, summary="Served models")
async def list_models(tagger: TaggerDep) -> list[ModelInfo]:
    return [
        ModelInfo(
            name=name,
            version=metadata.version,
            default=name == tagger.settings.default_model,
            device=tagger.device,
            tags=metadata.tags,
            embedding_size=metadata.embedding_size,
            sample_rate=metadata.sample_rate,
            chunk_seconds=metadata.chunk_seconds,
            frontend=metadata.frontend,
            card=metadata.card,
        )
        for name, (_, metadata) in tagger.catalog.items()
    ]
