"""`python -m service`: serve the tagging API with uvicorn on TAGGER_HOST:TAGGER_PORT."""

from __future__ import annotations

import logging

import uvicorn

from service.main import create_app
from service.settings import get_settings


def main() -> None:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(create_app(), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
