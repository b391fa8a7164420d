"""`python -m training split`: a group-disjoint train/valid/test split of a labelled manifest.

Oversampling (`--oversample-min-positives`) happens after the split and on the training split only.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tagger.tracks import read_manifest
from training.commands import configure_logging
from training.dataset import (
    SPLIT_NAMES,
    check_unlabelled,
    read_unlabelled,
    read_vocabulary,
    split_by_group,
    write_manifest,
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="labelled manifest (.csv or .jsonl)")
    parser.add_argument("--output-dir", type=Path, required=True, help="where train/valid/test manifests go")
    parser.add_argument("--valid-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocabulary", type=Path, help="needed with --oversample-min-positives")
    parser.add_argument(
        "--oversample-min-positives",
        type=int,
        default=0,
        help="repeat training tracks of rarer tags up to this count",
    )
    parser.add_argument(
        "--unlabelled", type=Path, help="also check an unlabelled pool shares nothing with valid/test"
    )
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    splits = split_by_group(
        read_manifest(args.manifest),
        valid_fraction=args.valid_fraction,
        test_fraction=args.test_fraction,
        seed=args.seed,
    )
    if args.oversample_min_positives:
        if args.vocabulary is None:
            raise SystemExit("--oversample-min-positives needs --vocabulary")
        vocabulary = read_vocabulary(args.vocabulary)
        splits = splits.oversampled(vocabulary, min_positives=args.oversample_min_positives, seed=args.seed)
    if args.unlabelled:
        check_unlabelled(read_unlabelled(args.unlabelled), splits)
    for name in SPLIT_NAMES:
        tracks = getattr(splits, name)
        write_manifest(args.output_dir / f"{name}.{args.format}", tracks)
        log.info("%s: %d tracks from %d groups", name, len(tracks), len({track.group for track in tracks}))
    return 0
