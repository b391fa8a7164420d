"""HTTP answers for errors: `{"detail": ...}` with the status from the core's one table.

The pipeline raises subclasses of `tagger.errors.TaggerError` that say what went wrong, and
`tagger.errors.HTTP_STATUS` says what each means in HTTP; this module only applies it, so no
user input can surface as a 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route

from tagger.errors import TaggerError, http_status

RETRY_AFTER_SECONDS = 5
# Nobody reads this answer; it keeps an aborted upload out of the error log and the 5xx count.
CLIENT_DISCONNECT_STATUS = 400


async def domain_error_response(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, TaggerError):
        status, detail = http_status(error), str(error)
    else:  # ClientDisconnect
        status, detail = (
            CLIENT_DISCONNECT_STATUS,
            "the client closed the connection before the upload was complete",
        )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def validation_error_response(request: Request, error: RequestValidationError) -> JSONResponse:
    """Invalid parameters or body as one sentence too, so every error has the same `{"detail": str}` shape."""
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}" for problem in error.errors()
    )
    return JSONResponse({"detail": f"invalid request: {problems}"}, status_code=422)


async def method_not_allowed_response(request: Request, error: HTTPException) -> Response:
    """A 405 lists every method of the path in `Allow`: Starlette lists only the first route's, and
    `/profiles/{name}` has three routes (GET, PUT, DELETE)."""
    if error.status_code != 405:
        return await http_exception_handler(request, error)
    allowed = {
        method
        for route in request.app.routes
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE
        for method in route.methods or ()
    }
    return JSONResponse(
        {"detail": error.detail}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))}
    )


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TaggerError, domain_error_response)
    app.add_exception_handler(ClientDisconnect, domain_error_response)
    app.add_exception_handler(HTTPException, method_not_allowed_response)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error_response)  # type: ignore[arg-type]
