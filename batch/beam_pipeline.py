"""`python -m batch.beam_pipeline`: tag a catalogue with Apache Beam, on this machine or a cluster.

    paths (local or object storage) → bytes → result id + windows (`tagger.song`, as for an upload)
    → RunInference (the exported model, batched) → windows grouped by track → `TagRecord` (mean-pooled)
    → JSONL rows (`batch.export`), and optionally the API's store (SQLite on a local runner, or PostgreSQL).
    Files that cannot be tagged go, with the reason, to `<output>_failures-*.jsonl`; the run goes on.

    python -m batch.beam_pipeline --input 'music/**.mp3' --output out/tags --db tagger.db
    python -m batch.beam_pipeline --input 'gs://bucket/audio/**' --output gs://bucket/tags/part \\
        --models-dir gs://bucket/saved_models --runner DataflowRunner --project P --region R \\
        --temp_location gs://bucket/tmp --sdk_container_image IMAGE

Every option not listed by `--help` goes to Beam's PipelineOptions (see docs/batch.md). Without
`--runner` it runs on `FnApiRunner`, the in-process engine of Beam's DirectRunner (which first
tries to download the Prism runner from GitHub). Beam is an optional extra (`pip install .[beam]`);
nothing in the service imports this module.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from batch.arguments import HOP_HELP, add_decode_limits
from batch.beam_model import SavedModelHandler, resolve_model
from batch.export import export_row
from batch.failures import failure_of
from tagger.decode_report import DecodeReport
from tagger.predictions import TagRecord
from tagger.settings import Settings
from tagger.song import TagPlan, build_record, decode_windows
from tagger.store import ResultStore, open_store

logger = logging.getLogger(__name__)

DEFAULT_RUNNER = "FnApiRunner"
SONGS = "songs"
FAILURES = "failures"


@dataclass(frozen=True)
class SongLayout:
    """What a track's record needs besides its windows' predictions."""

    result_id: str
    duration: float
    starts: np.ndarray
    decode: DecodeReport | None


class DecodeToWindows(beam.DoFn):
    """path → ((path, window index), window) …, plus (path, SongLayout) on `songs`, or a `failures` row."""

    def __init__(
        self, plan: TagPlan, *, min_seconds: float, max_seconds: float | None, min_decoded_share: float
    ) -> None:
        self._plan = plan
        self._min_seconds = min_seconds
        self._max_seconds = max_seconds
        self._min_decoded_share = min_decoded_share

    def process(self, path: str) -> Iterator[Any]:
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as file:
                content = file.read()
            result_id = self._plan.result_id(hashlib.sha256(content).hexdigest())
            song = decode_windows(
                content,
                self._plan,
                min_seconds=self._min_seconds,
                max_seconds=self._max_seconds,
                min_decoded_share=self._min_decoded_share,
            )
        except Exception as error:  # one file's problem never fails the job
            yield beam.pvalue.TaggedOutput(FAILURES, dataclasses.asdict(failure_of(path, error)))
            return
        yield beam.pvalue.TaggedOutput(
            SONGS, (path, SongLayout(result_id, song.duration, song.starts, song.decode))
        )
        for index, window in enumerate(song.windows):
            yield (path, index), window


def to_record(joined: tuple[str, dict[str, list[Any]]], plan: TagPlan) -> tuple[str, TagRecord]:
    """(path, record) from a track's layout and its windows' (index, prediction) pairs."""
    path, parts = joined
    (layout,) = parts[SONGS]
    predictions = [prediction for _, prediction in sorted(parts["windows"], key=lambda pair: pair[0])]
    if len(predictions) != layout.starts.size:
        raise RuntimeError(f"{path}: {len(predictions)} predictions for {layout.starts.size} windows")
    record = build_record(
        layout.result_id,
        plan,
        duration=layout.duration,
        starts=layout.starts,
        predictions=predictions,
        decode=layout.decode,
    )
    return path, record


def _by_track(keyed: tuple[tuple[str, int], PredictionResult]) -> tuple[str, tuple[int, Any]]:
    (path, index), result = keyed
    return path, (index, result.inference)


class SaveToStore(beam.DoFn):
    """Save records into the API's store: an SQLite file (local runners) or PostgreSQL (any runner)."""

    def __init__(self, db: str) -> None:
        self._db = db
        self._store: ResultStore | None = None

    def setup(self) -> None:
        self._store = open_store(self._db)

    def process(self, element: tuple[str, TagRecord]) -> None:
        assert self._store is not None, "setup() opens the store"
        self._store.save(element[1])

    def teardown(self) -> None:
        if self._store is not None:
            self._store.close()


def build_pipeline(pipeline: beam.Pipeline, args: argparse.Namespace) -> None:
    version_dir, metadata = resolve_model(args.models_dir, args.model)
    plan = TagPlan.for_model(metadata, args.hop)
    logger.info("tagging %s with %s v%d (%s)", args.input, metadata.name, metadata.version, version_dir)
    windows, songs, failures = (
        pipeline
        | "Patterns" >> beam.Create(args.input)
        | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.DISALLOW)
        | "Paths" >> beam.Map(lambda match: match.path)
        # Also spreads the files over workers: matching happens on one.
        | "EachFileOnce" >> beam.Distinct()
        | "Decode"
        >> beam.ParDo(
            DecodeToWindows(
                plan,
                min_seconds=args.min_duration,
                max_seconds=args.max_duration,
                min_decoded_share=args.min_decoded_share,
            )
        ).with_outputs(SONGS, FAILURES, main="windows")
    )
    scored = (
        windows
        | "Model"
        >> RunInference(
            KeyedModelHandler(SavedModelHandler(version_dir, args.runtime, max_batch_size=args.batch_size))
        )
        | "ByTrack" >> beam.Map(_by_track)
    )
    records = (
        {SONGS: songs, "windows": scored}
        | "Join" >> beam.CoGroupByKey()
        | "Record" >> beam.Map(to_record, plan)
    )
    (
        records
        | "Rows" >> beam.MapTuple(lambda path, record: json.dumps(export_row(path, record)))
        | "WriteTags" >> beam.io.WriteToText(args.output, file_name_suffix=".jsonl")
    )
    (
        failures
        | "FailureRows" >> beam.Map(json.dumps)
        | "WriteFailures" >> beam.io.WriteToText(f"{args.output}_failures", file_name_suffix=".jsonl")
    )
    if args.db:
        records | "Store" >> beam.ParDo(SaveToStore(args.db))


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, PipelineOptions]:
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m batch.beam_pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--input", action="append", required=True, help="file pattern, local or object storage (repeatable)"
    )
    parser.add_argument("--output", required=True, help="output prefix: <prefix>-SSSSS-of-NNNNN.jsonl")
    parser.add_argument("--model", default=settings.default_model, help="(default: %(default)s)")
    parser.add_argument("--models-dir", default=str(settings.models_dir), help="local or object storage")
    parser.add_argument("--hop", type=float, help=HOP_HELP)
    parser.add_argument(
        "--batch-size", type=int, default=settings.max_batch_size, help="windows per model call"
    )
    add_decode_limits(parser, settings)
    parser.add_argument(
        "--db", help="also save into this result store: SQLite file (local runners only) or postgresql:// URL"
    )
    # Workers run with the launcher's TAGGER_* runtime settings (threads, GPU precision), not their own.
    parser.set_defaults(runtime=settings.runtime)
    args, beam_args = parser.parse_known_args(argv)
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    standard.runner = standard.runner or DEFAULT_RUNNER
    return args, options


def run(argv: list[str] | None = None) -> None:
    """Build and run the pipeline, waiting for it to finish."""
    args, options = parse_args(argv)
    with beam.Pipeline(options=options) as pipeline:
        build_pipeline(pipeline, args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()
