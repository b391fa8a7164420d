"""GET /models: what is served, with vocabulary, front-end configuration, device and version."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.deps import TaggerDep, require_api_key
from service.schemas import ErrorDetail, ModelInfo, UnreadableModel
from tagger.song import TagPlan

router = APIRouter(tags=["models"], dependencies=[Depends(require_api_key)])


@router.get("/models", responses={401: {"model": ErrorDetail}}, summary="Served models")
async def list_models(tagger: TaggerDep) -> list[ModelInfo | UnreadableModel]:
    """Every model in the models folder: ready, still loading, or failed with the reason."""
    listed: list[ModelInfo | UnreadableModel] = []
    for name, version in tagger.catalog.items():
        metadata = version.metadata
        ready = tagger.serving(name)
        listed.append(
            ModelInfo(
                name=name,
                status="ready" if ready else "failed" if name in tagger.failed else "loading",
                error=tagger.failed.get(name),
                version=metadata.version,
                default=name == tagger.settings.default_model,
                device=tagger.device if ready else None,
                tags=metadata.tags,
                embedding_size=metadata.embedding_size,
                sample_rate=metadata.sample_rate,
                window_seconds=metadata.window_seconds,
                frontend=metadata.frontend,
                default_hop_seconds=TagPlan.for_model(metadata, None).hop_seconds,
                card=metadata.card,
            )
        )
    listed += [UnreadableModel(name=name, error=tagger.failed[name]) for name in sorted(tagger.unreadable)]
    return listed
