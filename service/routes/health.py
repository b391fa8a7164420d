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
    models = {name: metadata.version for name, (_, metadata) in tagger.catalog.items()}
    if tagger.ready:
        return Readiness(status="ready", models=models)
    state = "failed" if tagger.load_error else "loading"
    body = Readiness(status=state, models=models, detail=tagger.load_error)
    return JSONResponse(body.model_dump(), status_code=503)
