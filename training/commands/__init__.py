"""The training commands' argument parsing and wiring; the work itself lives in the `training` modules."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    """INFO-level logs with timestamps: long runs are read from log files afterwards."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
