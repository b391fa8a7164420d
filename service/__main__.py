"""`python -m service`: serve the tagging API with uvicorn on TAGGER_HOST:TAGGER_PORT."""

from __future__ import annotations

import logging

import uvicorn

from service.main import create_app
from tagger.settings import Settings

# uvicorn's access-log record arguments: client, method, path with query string, HTTP version, status.
ACCESS_LOG_ARGS = 5


class DropQueryString(logging.Filter):
    """Access-log lines show the path without its query string: a client may put a secret (a key) there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == ACCESS_LOG_ARGS:
            client, method, path, http_version, status = record.args
            record.args = (client, method, str(path).split("?", 1)[0], http_version, status)
        return True


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # uvicorn's logging set-up keeps filters already on its loggers.
    logging.getLogger("uvicorn.access").addFilter(DropQueryString())
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,  # type: ignore[arg-type]  # uvicorn accepts a float
    )


if __name__ == "__main__":
    main()
