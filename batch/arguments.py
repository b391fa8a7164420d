"""Command-line options the batch CLI and the Beam launcher share, defaulting to the TAGGER_* settings."""

from __future__ import annotations

import argparse

from tagger.settings import Settings

HOP_HELP = "seconds between window starts (default: the model's own hop, as POST /tag)"


def add_decode_limits(parser: argparse.ArgumentParser, settings: Settings) -> None:
    """--min-duration, --max-duration and --min-decoded-share: which files are tagged, as the API decides."""
    parser.add_argument("--min-duration", type=float, default=settings.min_duration_s, help="seconds")
    parser.add_argument("--max-duration", type=float, default=settings.max_duration_s, help="seconds")
    parser.add_argument(
        "--min-decoded-share",
        type=float,
        default=settings.min_decoded_share,
        help="refuse a damaged file when less than this share of it decodes",
    )
