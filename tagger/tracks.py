"""Tracks and manifests: the one description of "which audio files", for training and batch tagging alike.

A manifest is CSV (with a header), JSON lines, or plain text (one file per line). Its file column
is `audio` (or `path`, or any name the caller gives); `tags` (`;`-separated in CSV, a list in
JSON), `group` (the artist, or whatever must not straddle splits) and `split` are optional; every
other column travels with the track in `fields` (artist, curator, … for `aggregate --group-by`).
Relative paths are relative to the manifest's folder, so a manifest moves with its audio; URIs
(`gs://…`, `https://…`) are kept as they are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tagger.errors import InputError

# Files a folder contributes: the containers the intake decodes, by their usual suffixes.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".caf"}
    | {".webm", ".mka", ".mp4"}  # Matroska/WebM audio, and MP4 whose first audio stream is tagged
)
MANIFEST_SUFFIXES = frozenset({".txt", ".csv", ".jsonl"})
CSV_TAG_SEPARATOR = ";"
FILE_COLUMNS = ("audio", "path")


@dataclass(frozen=True)
class Track:
    """One audio file (a local path or a URI), its tags, its group and split, and its other columns."""

    audio: str
    tags: tuple[str, ...] = ()
    group: str = ""
    split: str = ""
    fields: Mapping[str, str] = field(default_factory=dict, hash=False)  # compared, not hashed

    @property
    def path(self) -> Path:
        return Path(self.audio)


def is_uri(audio: str) -> bool:
    return "://" in audio


def audio_files(folder: Path) -> list[Path]:
    """Every audio file below `folder`, sorted."""
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES)


def read_manifest(path: Path, *, file_column: str | None = None) -> list[Track]:
    """The tracks a manifest lists, in order; `file_column` defaults to `audio`, else `path`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise InputError(f"a manifest is a {', '.join(sorted(MANIFEST_SUFFIXES))} file. Received: {path}")
    with path.open(newline="") as file:
        return [
            _track(row, number, path, file_column)
            for number, row in enumerate(_rows(file, suffix, file_column), start=1)
        ]


def _rows(file: TextIO, suffix: str, file_column: str | None) -> Iterator[Any]:
    if suffix == ".csv":
        for row in csv.DictReader(file):
            tags = row.get("tags") or ""
            yield {**row, "tags": [tag for tag in tags.split(CSV_TAG_SEPARATOR) if tag]}
        return
    for line in file:
        if not line.strip() or line.startswith("#"):
            continue
        if suffix == ".txt":
            yield {file_column or FILE_COLUMNS[0]: line.strip()}
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{file.name}: not a JSON line ({error}): {line.strip()[:80]!r}") from error


def _track(row: Any, number: int, manifest: Path, file_column: str | None) -> Track:
    columns = (file_column,) if file_column else FILE_COLUMNS
    column = next((name for name in columns if isinstance(row, dict) and row.get(name)), None)
    if column is None:
        raise InputError(f"{manifest}: row {number} has no {' or '.join(map(repr, columns))} value")
    known = {column, "tags", "group", "split"}
    return Track(
        audio=resolve(str(row[column]), manifest.parent),
        tags=tuple(row.get("tags") or ()),
        group=str(row.get("group") or ""),
        split=str(row.get("split") or ""),
        fields={key: str(value) for key, value in row.items() if key not in known},
    )


def resolve(audio: str, base: Path) -> str:
    """`audio` as an absolute path (relative ones are relative to `base`), or the URI as it is."""
    return audio if is_uri(audio) else str((base / audio).resolve())
