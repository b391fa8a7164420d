"""Song-level results as rows for a recommender: JSONL always, Parquet when pyarrow is installed.

One row format for every batch tool (the CLI's `--export` and the Beam pipeline's output), so a
downstream job reads either the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tagger.errors import ExportError
from tagger.predictions import TagRecord

EXPORT_SUFFIXES = (".jsonl", ".parquet")
PARQUET_ROWS_PER_GROUP = 1000


def export_row(path: str, record: TagRecord) -> dict[str, Any]:
    """Track path, result id, model, the song-level vectors (the mean over windows) and any decode damage."""
    return {
        "path": path,
        "id": record.id,
        "model": record.model_name,
        "model_version": record.model_version,
        "hop_seconds": record.hop_seconds,
        "duration": record.duration,
        "tags": record.tags,
        "scores": record.scores.tolist(),
        "embedding": record.embedding.tolist(),
        "decode": None if record.decode is None else record.decode.as_dict(),
    }


def check_export_path(path: Path) -> None:
    """Fail before a long run, not after it, when the export could not be written."""
    if path.suffix not in EXPORT_SUFFIXES:
        raise ExportError(f"export to .jsonl or .parquet, not {path.suffix or 'no suffix'!r}: {path}")
    if path.suffix == ".parquet":
        _pyarrow()


def write_export(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write `rows` to `path` (format from its suffix); returns how many were written."""
    check_export_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_parquet(path, rows) if path.suffix == ".parquet" else _write_jsonl(path, rows)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w") as file:
        for row in rows:
            file.write(json.dumps(row) + "\n")
            count += 1
    return count


def _write_parquet(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Streamed in row groups, so exporting a whole catalogue never holds it in memory."""
    pa, pq = _pyarrow()
    schema = pa.schema(
        [
            ("path", pa.string()),
            ("id", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.int64()),
            ("hop_seconds", pa.float64()),
            ("duration", pa.float64()),
            ("tags", pa.list_(pa.string())),
            ("scores", pa.list_(pa.float32())),
            ("embedding", pa.list_(pa.float32())),
            (
                "decode",
                pa.struct(
                    [
                        ("skipped_frames", pa.int64()),
                        ("skipped_seconds", pa.float64()),
                        ("missing_seconds", pa.float64()),
                        ("warning", pa.string()),
                    ]
                ),
            ),
        ]
    )
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        group: list[dict[str, Any]] = []
        for row in rows:
            group.append(row)
            if len(group) == PARQUET_ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_pylist(group, schema=schema))
                count, group = count + len(group), []
        if group or not count:
            writer.write_table(pa.Table.from_pylist(group, schema=schema))
            count += len(group)
    return count


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ExportError(
            "writing Parquet needs pyarrow, which is not installed: `pip install pyarrow` "
            "(the beam extra brings it), or export to .jsonl"
        ) from error
    return pyarrow, pyarrow.parquet
