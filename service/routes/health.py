"""GET /healthz (the process answers) and GET /readyz (models loaded and warm); never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import TaggerDep
from service.schemas import Liveness, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> Liveness:
    return Liveness()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Readiness")
async def readyz(tagger: TaggerDep) -> Readiness | JSONResponse:
    models = {name: version.metadata.version for name, version in tagger.catalog.items()}
    if tagger.ready:
        return Readiness(status="ready", models=models, failed=tagger.failed)
    state = "loading" if tagger.loading else "failed"
    detail = None if tagger.loading else tagger.unavailable_reason(tagger.settings.default_model)
    body = Readiness(status=state, models=models, failed=tagger.failed, detail=detail)
    return JSONResponse(body.model_dump(), status_code=503)
