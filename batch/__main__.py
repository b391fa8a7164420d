"""`python -m batch tag|aggregate|neighbours`: tag a catalogue into the API's result store, average it, or
export every track's nearest neighbours.

    python -m batch tag music/ more/*.mp3 tracks.csv --model MSD_musicnn --export tags.parquet
    python -m batch aggregate --manifest tracks.csv --group-by artist --output artists.jsonl
    python -m batch neighbours --k 10 --by embedding --output nn.jsonl

Defaults come from the service's `TAGGER_*` settings (models dir, default model, database), so the
results land where the API reads them. The last line on stdout is a JSON summary of the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from batch.arguments import HOP_HELP, add_decode_limits
from batch.export import check_export_path, export_row, write_export
from batch.failures import FailureLog
from batch.inputs import find_tracks
from batch.runner import BatchTagger, RunSummary, read_and_hash
from tagger.aggregate import lookup, mean_of
from tagger.errors import InputError, TaggerError
from tagger.repository import ModelRepository, load_model
from tagger.settings import Settings
from tagger.similarity import ModelIndex, ModelKey, SimilarityIndex, Space
from tagger.song import TagPlan
from tagger.store import ResultStore, open_store
from tagger.tracks import Track

logger = logging.getLogger("batch")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    args = build_parser(settings).parse_args(argv)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        return args.run(args, settings)
    except TaggerError as error:
        logger.error("%s", error)
        return EXIT_USAGE


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m batch", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    tag = commands.add_parser("tag", help="tag audio files into the result store (resumable)")
    tag.add_argument("inputs", nargs="+", metavar="INPUT", help="audio folder, glob, file, or manifest")
    _model_arguments(tag, settings)
    tag.add_argument("--limit", type=int, help="attempt at most this many tracks not yet stored, then stop")
    tag.add_argument("--workers", type=int, default=settings.decode_workers, help="decoding threads")
    tag.add_argument(
        "--batch-size",
        type=int,
        help="windows per model call (default: TAGGER_MAX_BATCH_SIZE; TAGGER_GPU_MAX_BATCH_SIZE on a GPU)",
    )
    add_decode_limits(tag, settings)
    tag.add_argument(
        "--export",
        type=Path,
        action="append",
        default=[],
        help="also write the tracks' song vectors to this .jsonl or .parquet file (repeatable)",
    )
    tag.set_defaults(run=tag_command)

    aggregate = commands.add_parser("aggregate", help="average stored song vectors over sets of tracks")
    sets = aggregate.add_mutually_exclusive_group(required=True)
    sets.add_argument("--ids-file", type=Path, help="result ids, one per line: one average")
    sets.add_argument("--manifest", help="CSV or JSONL manifest of tracks: one average per --group-by value")
    aggregate.add_argument("--group-by", help="manifest column to group tracks by (artist, curator, …)")
    _model_arguments(aggregate, settings)
    aggregate.add_argument("--output", type=Path, help="JSONL file (default: stdout)")
    aggregate.set_defaults(run=aggregate_command)

    neighbours = commands.add_parser("neighbours", help="export every stored track's nearest stored tracks")
    neighbours.add_argument(
        "--db", type=Path, default=settings.db, help="result store (default: %(default)s)"
    )
    neighbours.add_argument("--model", help="only this model's results (default: every model)")
    neighbours.add_argument("--k", type=int, default=10, help="neighbours per track (default: %(default)s)")
    neighbours.add_argument(
        "--by", choices=["embedding", "tags"], default="embedding", help="(default: %(default)s)"
    )
    neighbours.add_argument(
        "--output", type=Path, required=True, help=".jsonl or .parquet file, one row per track"
    )
    neighbours.set_defaults(run=neighbours_command)
    return parser


def _model_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument("--model", default=settings.default_model, help="model name (default: %(default)s)")
    parser.add_argument("--models-dir", type=Path, default=settings.models_dir, help="(default: %(default)s)")
    parser.add_argument(
        "--db",
        default=str(settings.db),
        help="result store: SQLite file or postgresql:// URL (default: %(default)s)",
    )
    parser.add_argument("--hop", type=float, help=HOP_HELP)
    parser.add_argument(
        "--path-column", help="manifest column with the file path (default: `audio`, else `path`)"
    )


def tag_command(args: argparse.Namespace, settings: Settings) -> int:
    for path in args.export:
        check_export_path(path)
    tracks = find_tracks(args.inputs, path_column=args.path_column)
    version = ModelRepository(args.models_dir).resolve(args.model)
    plan = TagPlan.for_model(version.metadata, args.hop)
    model = load_model(version.path, settings.runtime)
    store, failures = open_store(args.db), FailureLog(args.db, plan)
    tagger = BatchTagger(
        plan,
        model.predict,
        store,
        failures,
        workers=args.workers,
        batch_size=args.batch_size or settings.batch_size_for(model.device),
        min_seconds=args.min_duration,
        max_seconds=args.max_duration,
        min_decoded_share=args.min_decoded_share,
    )
    summary = RunSummary(total=len(tracks))
    logger.info(
        "tagging %d tracks with %s v%d into %s", len(tracks), plan.model.name, plan.model.version, args.db
    )
    try:
        with logging_redirect_tqdm(), tqdm(total=len(tracks), unit="track", dynamic_ncols=True) as progress:
            asyncio.run(
                _run_until_done_or_stopped(tagger, tracks, summary, limit=args.limit, progress=progress)
            )
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        tagger.close()
    logger.info("%s", ", ".join(f"{key} {value}" for key, value in summary.as_dict().items()))
    if summary.interrupted:
        if args.export:
            logger.warning("interrupted: nothing exported; run again to resume and export")
    else:
        for path in args.export:
            count = write_export(path, _export_rows(tracks, summary, store))
            logger.info("exported %d tracks to %s", count, path)
    store.close()
    failures.close()
    sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
    return EXIT_INTERRUPTED if summary.interrupted else 0


async def _run_until_done_or_stopped(
    tagger: BatchTagger, tracks: list[Track], summary: RunSummary, *, limit: int | None, progress: tqdm
) -> None:
    """The first Ctrl-C lets the tracks in flight finish (stored and counted); a second one stops at once."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        logger.warning("interrupted: finishing the tracks in flight (Ctrl-C again to stop at once)")
        loop.remove_signal_handler(signal.SIGINT)
        tagger.stop()

    loop.add_signal_handler(signal.SIGINT, stop)
    await tagger.run(tracks, summary, limit=limit, progress=progress)


def _export_rows(tracks: list[Track], summary: RunSummary, store: ResultStore) -> Iterator[dict[str, Any]]:
    """Every input track with a stored result (tagged now or before), in input order."""
    for index, result_id in sorted(summary.results.items()):
        record = store.get(result_id)
        if record is not None:
            yield export_row(str(tracks[index].path), record)


def aggregate_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.manifest and not args.group_by:
        raise InputError("--manifest needs --group-by (the column whose values name the sets)")
    store = open_store(args.db)
    if args.ids_file:
        ids = [line.strip() for line in args.ids_file.read_text().splitlines() if line.strip()]
        rows = [_aggregate_row(store, None, {result_id: result_id for result_id in ids}, args.model)]
    else:
        plan = TagPlan.for_model(ModelRepository(args.models_dir).resolve(args.model).metadata, args.hop)
        groups = _ids_by_group(
            find_tracks([args.manifest], path_column=args.path_column), args.group_by, plan
        )
        rows = [_aggregate_row(store, group, ids, args.model) for group, ids in groups.items()]
    store.close()
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if args.output:
        args.output.write_text(text)
        logger.info("wrote %d averages to %s", len(rows), args.output)
    else:
        sys.stdout.write(text)
    return 0


def _ids_by_group(tracks: list[Track], column: str, plan: TagPlan) -> dict[str, dict[str, str]]:
    """{group value: {result id (or the path, when the file cannot be read): path}}."""
    groups: dict[str, dict[str, str]] = {}
    for track in tqdm(tracks, unit="track", desc="hashing"):
        group = track.fields.get(column)
        if not group:
            logger.warning("%s: no %r value, left out", track.path, column)
            continue
        try:
            key = plan.result_id(read_and_hash(track.path)[1])
        except OSError as error:
            logger.warning("%s: %s", track.path, error)
            key = str(track.path)
        groups.setdefault(group, {})[key] = str(track.path)
    return groups


def _aggregate_row(
    store: ResultStore, group: str | None, labels: dict[str, str], model_name: str
) -> dict[str, Any]:
    """One set's average; `labels` maps each result id to how `missing` names it (path or id)."""
    records, missing = lookup(store, labels)
    row: dict[str, Any] = {} if group is None else {"group": group}
    row["count"] = len(records)
    row["missing"] = [labels[result_id] for result_id in missing]
    if records:
        mean = mean_of(records, model_name=model_name)
        row.update(
            model=mean.model_name,
            model_version=mean.model_version,
            tags=mean.tags,
            scores=mean.scores.tolist(),
            embedding=mean.embedding.tolist(),
        )
    return row


def neighbours_command(args: argparse.Namespace, settings: Settings) -> int:
    """Every stored track's `k` nearest tracks of its model version, as GET /similar/{id} answers them."""
    check_export_path(args.output)
    store = open_store(args.db)
    models = SimilarityIndex(store).models()
    chosen = {key: index for key, index in models.items() if args.model in (None, key[0])}
    total = sum(len(index.ids) for index in chosen.values())
    with tqdm(total=total, unit="track", dynamic_ncols=True) as progress:
        count = write_export(args.output, _neighbour_rows(chosen, args.by, args.k, progress))
    store.close()
    logger.info("wrote the %d nearest neighbours of %d tracks to %s", args.k, count, args.output)
    return 0


def _neighbour_rows(
    models: dict[ModelKey, ModelIndex], space: Space, k: int, progress: tqdm
) -> Iterator[dict[str, Any]]:
    for (name, version), index in models.items():
        for result_id in index.ids:
            found = index.nearest(index.vector(result_id, space), space, k, exclude=[result_id])
            progress.update()
            yield {
                "id": result_id,
                "model": name,
                "model_version": version,
                "by": space,
                "neighbours": [{"id": item.id, "score": item.score} for item in found],
            }


if __name__ == "__main__":
    sys.exit(main())
