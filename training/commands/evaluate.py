"""`python -m training evaluate`: score an exported model on a labelled manifest, optionally into its card.

The model's own metadata gives the vocabulary, sample rate and window length, so the audio is prepared
exactly as the service prepares it for that model.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow as tf

from tagger.model_format import read_metadata, write_metadata
from tagger.song import TagPlan
from tagger.tracks import Track, read_manifest
from training.commands import configure_logging
from training.dataset import multi_hot
from training.evaluate import (
    Predictions,
    format_table,
    predict_tracks,
    saved_model_predictor,
    score_predictions,
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, required=True, help="an exported version, saved_models/<name>/<version>"
    )
    parser.add_argument("--manifest", type=Path, required=True, help="labelled tracks, e.g. a test split")
    parser.add_argument(
        "--hop", type=float, help="seconds between window starts (default: the model's, as POST /tag)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", type=Path, help="write the full evaluation as JSON here")
    parser.add_argument(
        "--predictions",
        type=Path,
        help="write each track's window and song scores here (JSON lines)",
    )
    parser.add_argument(
        "--update-card",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="store the evaluation in the model card's metrics under the manifest's name",
    )


def run(args: argparse.Namespace) -> int:
    configure_logging()
    metadata = read_metadata(args.model)
    tracks = read_manifest(args.manifest)
    predictions = predict_tracks(
        saved_model_predictor(tf.saved_model.load(str(args.model))),
        tracks,
        metadata.frontend,
        hop_samples=TagPlan.for_model(metadata, args.hop).hop_samples,
        batch_size=args.batch_size,
    )
    evaluation = score_predictions(predictions, multi_hot(tracks, metadata.tags), metadata.tags)
    log.info("%s on %s (song level):\n%s", metadata.name, args.manifest, format_table(evaluation))
    if args.output:
        args.output.write_text(json.dumps(evaluation, indent=2))
    if args.predictions:
        args.predictions.write_text(
            "".join(json.dumps(row) + "\n" for row in prediction_rows(tracks, predictions))
        )
    if args.update_card:
        metrics = {**metadata.card.metrics, args.manifest.stem: evaluation}
        card = metadata.card.model_copy(update={"metrics": metrics})
        write_metadata(args.model, metadata.model_copy(update={"card": card}))
    return 0


def prediction_rows(tracks: list[Track], predictions: Predictions) -> Iterator[dict[str, Any]]:
    for index, track in enumerate(tracks):
        yield {
            "audio": track.audio,
            "window_scores": predictions.window_scores[predictions.track_index == index].tolist(),
            "song_scores": predictions.song_scores[index].tolist(),
        }
