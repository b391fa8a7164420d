"""Which files to tag: folders, globs, single files and manifests (text, CSV or JSONL) become `Track`s.

A manifest's other columns (artist, curator, …) travel with each track, for `aggregate --group-by`.
Relative paths in a manifest are relative to the manifest's folder, so a manifest can move with
its audio.
"""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tagger.errors import InputError

# Files a folder contributes; globs and manifests name their files explicitly and are taken as given.
AUDIO_SUFFIXES = frozenset(
    {".wav", ".w64", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif", ".aiff", ".caf"}
    | {".webm", ".mka", ".mp4"}  # Matroska/WebM audio, and MP4 whose first audio stream is tagged
)
MANIFEST_SUFFIXES = frozenset({".txt", ".csv", ".jsonl"})


@dataclass(frozen=True)
class Track:
    """One file to tag, with its manifest row (empty for folders, globs and plain files)."""

    path: Path
    fields: Mapping[str, str] = field(default_factory=dict)


def find_tracks(sources: Sequence[str], *, path_column: str = "path") -> list[Track]:
    """Every track `sources` name, in the order given, each file once."""
    tracks: dict[Path, Track] = {}
    for source in sources:
        for track in _tracks_of(source, path_column):
            tracks.setdefault(track.path.resolve(), track)
    return list(tracks.values())


def _tracks_of(source: str, path_column: str) -> Iterator[Track]:
    path = Path(source)
    if path.is_dir():
        yield from (Track(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES)
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        yield from _manifest(path, path_column)
    elif path.is_file():
        yield Track(path)
    else:
        matches = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not matches:
            raise InputError(f"{source!r} is not a file or folder and matches no file")
        yield from (Track(p) for p in matches)


def _manifest(path: Path, path_column: str) -> Iterator[Track]:
    """Rows of a manifest; a missing file stays a track (and becomes a recorded failure, not a stop)."""
    with path.open(newline="") as file:
        for number, row in enumerate(_rows(file, path.suffix.lower(), path_column), start=1):
            if not isinstance(row, dict) or not row.get(path_column):
                raise InputError(f"{path}: row {number} has no {path_column!r} value (see --path-column)")
            fields = {key: str(value) for key, value in row.items() if key != path_column}
            yield Track(path.parent / str(row[path_column]), fields)


def _rows(file: TextIO, suffix: str, path_column: str) -> Iterator[object]:
    if suffix == ".csv":
        yield from csv.DictReader(file)
        return
    for line in file:
        if not line.strip() or line.startswith("#"):
            continue
        if suffix == ".txt":
            yield {path_column: line.strip()}
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{file.name}: not a JSON line ({error}): {line.strip()[:80]!r}") from error
