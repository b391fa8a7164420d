"""The FastAPI application: `create_app()` wires routes, error handlers, metrics and the lifespan.

Nothing happens at import time: the caller passes the settings (`python -m service` reads them from
the environment), and models load when the lifespan starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from service.errors import add_error_handlers
from service.request_metrics import RequestMetricsMiddleware
from service.routes import aggregate, health, metrics, models, page, profiles, similarity, tagging
from tagger.metrics import Metrics
from tagger.settings import Settings
from tagger.similarity import SimilarityIndex
from tagger.store import is_postgres_url
from tagger.tagging import TaggingService

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Upload a song, get back a song-level tag vector, the top tags, an embedding and a taggram
(tags over time). Results are stored under an id derived from the audio, the model version and
the hop, so the same upload is answered from the store. Errors are JSON `{"detail": "..."}`.
"""


def index_snapshot(db: str | Path) -> Path | None:
    """Where the index is snapshotted: beside an SQLite file. A PostgreSQL store is shared by replicas, so
    each builds its index from the store at start and catches up with the others' writes before a query."""
    return None if is_postgres_url(str(db)) else Path(db).with_suffix(".index")


def start_index(index: SimilarityIndex, snapshot: Path | None) -> None:
    """Restore the last snapshot if it is this database's, then catch up (all of it, without one)."""
    restored = snapshot is not None and index.restore(snapshot)
    added = index.catch_up()
    logger.info("search index %s, %d results added", "restored" if restored else "rebuilt", added)


def save_index(index: SimilarityIndex, snapshot: Path | None) -> None:
    """Snapshot the index at shutdown; without one (a crash, a full disk) the next start rebuilds it."""
    if snapshot is None:
        return
    try:
        index.save(snapshot)
    except OSError:
        logger.exception("could not save the search index to %s; the next start rebuilds it", snapshot)


def create_app(settings: Settings) -> FastAPI:
    metrics_registry = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        """Check models and store now (bad configuration fails start-up), then load models in the background.

        Loading after start-up lets /healthz answer at once and /readyz report progress.
        """
        tagger = TaggingService(settings, metrics_registry)
        loading = asyncio.create_task(tagger.load_models(), name="load-models")
        # The search index: its snapshot beside the database, then what was stored since (docs/similarity.md).
        index, snapshot = SimilarityIndex(tagger.store), index_snapshot(settings.db)
        indexing = asyncio.create_task(asyncio.to_thread(start_index, index, snapshot), name="index-results")
        try:
            yield {"tagger": tagger, "metrics": metrics_registry, "settings": settings, "similarity": index}
        finally:
            loading.cancel()
            await asyncio.gather(loading, indexing, return_exceptions=True)
            await asyncio.to_thread(save_index, index, snapshot)
            await tagger.close()

    app = FastAPI(
        title="music-tagger", version=version("music-tagger"), description=DESCRIPTION, lifespan=lifespan
    )
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics_registry)
    add_error_handlers(app)
    for module in (tagging, aggregate, similarity, profiles, models, health, metrics, page):
        app.include_router(module.router)
    page.mount_static(app)
    return app
