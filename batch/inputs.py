"""Which files to tag: folders, globs, single files and manifests become the core's `Track`s.

Manifests are read by `tagger.tracks.read_manifest` (CSV, JSON lines or text); their other columns
(artist, curator, …) travel with each track, for `aggregate --group-by`.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path

from tagger.errors import InputError
from tagger.tracks import MANIFEST_SUFFIXES, Track, audio_files, read_manifest


def find_tracks(sources: Sequence[str], *, path_column: str | None = None) -> list[Track]:
    """Every track `sources` name, in the order given, each file once."""
    tracks: dict[Path, Track] = {}
    for source in sources:
        for track in _tracks_of(source, path_column):
            tracks.setdefault(track.path.resolve(), track)
    return list(tracks.values())


def _tracks_of(source: str, path_column: str | None) -> Iterator[Track]:
    """A manifest's missing file stays a track: it becomes a recorded failure, not a stop."""
    path = Path(source)
    if path.is_dir():
        yield from (Track(str(p)) for p in audio_files(path))
    elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        yield from read_manifest(path, file_column=path_column)
    elif path.is_file():
        yield Track(str(path))
    else:
        matches = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not matches:
            raise InputError(f"{source!r} is not a file or folder and matches no file")
        yield from (Track(str(p)) for p in matches)
