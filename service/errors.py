"""Which HTTP status each domain error becomes, in one table; the handler answers `{"detail": ...}`.

The pipeline raises plain exceptions that say what went wrong; this is the only place that
decides what that means in HTTP, so no user input can surface as a 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from service.aggregate import MixedModelsError
from service.audio import (
    AudioError,
    AudioTooLongError,
    UndecodableAudioError,
)
from service.batcher import QueueFullError
from service.chunking import InvalidHopError
from service.tagging import NotReadyError, RequestTimeoutError, UnknownModelError
from service.upload import MalformedUploadError, NotMultipartError, UploadTooLargeError

RETRY_AFTER_SECONDS = 5

# Looked up along the exception's class hierarchy, most specific first.
ERROR_STATUS: dict[type[Exception], int] = {
    AudioError: 422,  # empty, too short, NaN/inf samples
    UndecodableAudioError: 415,
    AudioTooLongError: 413,
    UploadTooLargeError: 413,
    NotMultipartError: 415,
    MalformedUploadError: 422,
    InvalidHopError: 422,
    UnknownModelError: 404,
    MixedModelsError: 422,
    NotReadyError: 503,
    QueueFullError: 503,
    RequestTimeoutError: 503,  # overloaded: the same advice as a full queue, retry later
    # Nobody reads this answer; it keeps an aborted upload out of the error log and the 5xx count.
    ClientDisconnect: 400,
}


def status_for(error: Exception) -> int:
    return next(ERROR_STATUS[cls] for cls in type(error).__mro__ if cls in ERROR_STATUS)


async def domain_error_response(request: Request, error: Exception) -> JSONResponse:
    status = status_for(error)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    detail = str(error) or "the client closed the connection before the upload was complete"
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def validation_error_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """Invalid parameters or body as one sentence too, so every error has the same `{"detail": str}` shape."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
    )
    return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)


def add_error_handlers(app: FastAPI) -> None:
    for error_class in ERROR_STATUS:
        app.add_exception_handler(error_class, domain_error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)  # type: ignore[arg-type]
