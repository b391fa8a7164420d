"""A small catalogue of real audio (made by ffmpeg) with a manifest, and running the batch CLI for real."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.audio_files import make_audio

REPO = Path(__file__).resolve().parents[2]
# Limits the tagging runs pass, so that two catalogue files fail for their duration.
MIN_SECONDS = 0.5
MAX_SECONDS = 3.4
CLI_TIMEOUT_S = 300
MUSICNN = "MSD_musicnn"


@dataclass(frozen=True)
class Catalogue:
    folder: Path  # every file below, good and bad
    manifest: Path  # CSV: path (relative), artist; also names a file that does not exist
    good: list[Path]  # taggable, in manifest order
    artists: dict[str, list[Path]]  # the manifest's grouping, every row


@dataclass(frozen=True)
class TaggedCatalogue:
    """Two CLI runs into the server's database: the folder with --limit, then the manifest (resuming)."""

    first: dict[str, Any]
    second: dict[str, Any]
    second_started_at: float
    db: Path
    exports: dict[str, Path]


def make_catalogue(directory: Path) -> Catalogue:
    folder = directory / "music"
    folder.mkdir()
    rows = [
        (make_audio(folder / "a.mp3", seconds=2.4, channels=2), "Ana"),
        (make_audio(folder / "b.flac", seconds=3.1), "Ana"),
        (make_audio(folder / "c.ogg", seconds=1.7), "Ben"),
        (make_audio(folder / "d.wav", seconds=2.9, sample_rate=22_050), "Ben"),
        (make_audio(folder / "e.m4a", seconds=3.6), "Ben"),  # longer than MAX_SECONDS
        (make_audio(folder / "short.wav", seconds=0.4), "Ben"),  # shorter than MIN_SECONDS
        (_write(folder / "broken.mp3", b"ID3 this is not audio " * 64), "Ana"),
        (folder / "gone.mp3", "Ben"),  # listed in the manifest, never created
    ]
    manifest = directory / "tracks.csv"
    with manifest.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "artist"])
        writer.writerows((path.relative_to(directory).as_posix(), artist) for path, artist in rows)
    artists: dict[str, list[Path]] = {}
    for path, artist in rows:
        artists.setdefault(artist, []).append(path)
    good = [path for path, _ in rows[:4]]
    return Catalogue(folder=folder, manifest=manifest, good=good, artists=artists)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def batch_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "batch", *map(str, args)]


def batch_env(settings: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TAGGER_LOG_LEVEL": "info", **(settings or {})}


def run_batch(*args: object, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run `python -m batch ARGS` to completion; the JSON lines it wrote to stdout."""
    done = subprocess.run(
        batch_command(*args),
        cwd=REPO,
        env=batch_env(env),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-4000:]}"
    return [json.loads(line) for line in done.stdout.splitlines()]
