"""GET /: the page for people (upload a song, see its tags, taggram and similar tracks), and its files.

The page holds no data, so it is served without the API key; its script sends the key with every API
call once the server has answered 401. Everything it needs comes from `service/static/`: no CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The page may load and call only this server: a guarantee that nothing is fetched from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


def mount_static(app: FastAPI) -> None:
    """Serve the page's script and style sheet under /static."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
