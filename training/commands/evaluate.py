"""`python -m training evaluate`: score an exported model on a labelled manifest, optionally into its card.

The model's own metadata gives the vocabulary, sample rate and chunk length, so the audio is prepared
exactly as the service prepares it for that model.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import tensorflow as tf

from service.model_format import read_metadata, write_metadata
from training.commands import configure_logging
from training.dataset import read_manifest
from training.evaluate import evaluate, format_table, saved_model_predictor
from training.frontend import FrontendConfig

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, required=True, help="an exported version, saved_models/<name>/<version>"
    )
    parser.add_argument("--manifest", type=Path, required=True, help="labelled tracks, e.g. a test split")
    parser.add_argument("--num-chunks", type=int, default=8, help="evenly spaced chunks per song")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", type=Path, help="write the full evaluation as JSON here")
    parser.add_argument(
        "--update-card",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="store the evaluation in the model card's metrics under the manifest's name",
    )


def run(args: argparse.Namespace) -> int:
    configure_logging()
    metadata = read_metadata(args.model)
    evaluation = evaluate(
        saved_model_predictor(tf.saved_model.load(str(args.model))),
        read_manifest(args.manifest),
        metadata.tags,
        FrontendConfig.from_dict(metadata.frontend),
        num_chunks=args.num_chunks,
        batch_size=args.batch_size,
    )
    log.info("%s on %s (song level):\n%s", metadata.name, args.manifest, format_table(evaluation))
    if args.output:
        args.output.write_text(json.dumps(evaluation, indent=2))
    if args.update_card:
        metrics = {**metadata.card.metrics, args.manifest.stem: evaluation}
        card = metadata.card.model_copy(update={"metrics": metrics})
        write_metadata(args.model, metadata.model_copy(update={"card": card}))
    return 0
