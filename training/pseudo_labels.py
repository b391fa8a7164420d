"""Teacher pseudo-labels on a fixed window grid, cached by audio content, window and teacher version.

The teachers cost far more than the student, so each scores a pool window once. The grid is the
service's own windowing (`tagger.windows.song_windows`) at a hop of one window, and a track keeps
`windows_per_track` evenly spaced grid windows, so a song is spread over its whole length.

The cache is one small `.npz` per teacher version, float16 scores under the audio's SHA-256: a
changed file has another hash and a changed teacher another file name (its key hashes the
SavedModel's graph and variables), so stale scores are never read. It is small enough to commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tagger.arrays import FloatArray
from tagger.audio import load_audio
from tagger.errors import AudioError
from tagger.inference import ServingModel
from tagger.model_format import FrontendSpec
from tagger.tracks import Track
from tagger.windows import song_windows

log = logging.getLogger(__name__)

TEACHER_BATCH = 16


@dataclass(frozen=True)
class PoolWindows:
    """The selected grid windows of some tracks: row i is window `starts[i]` of `tracks[track_index[i]]`."""

    tracks: tuple[Track, ...]
    sha256: tuple[str, ...]  # per track
    refused: tuple[str, ...]  # per track: why the intake refused it ("" = decoded; it has no windows)
    track_index: np.ndarray  # (n,) int
    starts: np.ndarray  # (n,) int, samples at the front end's rate
    waveforms: np.ndarray  # (n, window_samples) float32

    def save(self, path: Path) -> None:
        np.savez(
            path,
            audio=np.array([t.audio for t in self.tracks]),
            group=np.array([t.group for t in self.tracks]),
            sha256=np.array(self.sha256),
            refused=np.array(self.refused),
            track_index=self.track_index,
            starts=self.starts,
            waveforms=self.waveforms,
        )

    @classmethod
    def load(cls, path: Path, tracks: Sequence[Track]) -> PoolWindows | None:
        """The saved windows, or None when they were cut from another list of tracks."""
        if not path.exists():
            return None
        with np.load(path) as saved:
            if saved["audio"].tolist() != [t.audio for t in tracks]:
                return None
            return cls(
                tuple(tracks),
                tuple(saved["sha256"].tolist()),
                tuple(saved["refused"].tolist()),
                saved["track_index"],
                saved["starts"],
                saved["waveforms"],
            )


def content_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def grid_subset(num_grid_windows: int, per_track: int) -> np.ndarray:
    """Indices of `per_track` evenly spaced grid windows (all of them when there are fewer)."""
    if num_grid_windows <= per_track:
        return np.arange(num_grid_windows)
    return np.unique(np.linspace(0, num_grid_windows - 1, per_track).round().astype(int))


def cut_pool(tracks: Sequence[Track], frontend: FrontendSpec, *, windows_per_track: int) -> PoolWindows:
    """Decode every track with the core's intake and keep its evenly spaced grid windows.

    A file the intake refuses (FFmpeg cannot decode it) is logged with the reason and contributes nothing.
    """
    shas, refused, index, starts, waveforms = [], [], [], [], []
    for number, track in enumerate(tqdm(tracks, desc="decode pool", unit="track")):
        shas.append(content_hash(track.audio))
        try:
            waveform = load_audio(track.audio, sample_rate=frontend.sample_rate)
        except AudioError as error:
            log.warning("skipping %s: %s", track.audio, error)
            refused.append(str(error))
            continue
        refused.append("")
        windows, grid_starts = song_windows(waveform, frontend, hop=frontend.window_samples)
        keep = grid_subset(len(windows), windows_per_track)
        index += [number] * len(keep)
        starts += grid_starts[keep].tolist()
        waveforms += [windows[k] for k in keep]
    return PoolWindows(
        tuple(tracks),
        tuple(shas),
        tuple(refused),
        np.array(index),
        np.array(starts),
        np.stack(waveforms).astype(np.float32),
    )


def teacher_key(version_dir: Path) -> str:
    """`<name>-v<version>-<hash of graph, variables and metadata>`: retraining a teacher changes it."""
    digest = hashlib.sha256()
    for path in sorted(Path(version_dir).rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(version_dir).as_posix().encode())
            digest.update(path.read_bytes())
    version_dir = Path(version_dir).resolve()
    return f"{version_dir.parent.name}-v{version_dir.name}-{digest.hexdigest()[:16]}"


class PseudoLabelCache:
    """float16 teacher scores per (teacher key, audio SHA-256, window start), one `.npz` per teacher."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def read(self, key: str) -> dict[tuple[str, int], np.ndarray]:
        path = self.path(key)
        if not path.exists():
            return {}
        with np.load(path) as saved:
            return {
                (sha, int(start)): row
                for sha, start, row in zip(saved["sha256"], saved["starts"], saved["scores"], strict=True)
            }

    def write(self, key: str, entries: dict[tuple[str, int], np.ndarray]) -> None:
        """Replace the teacher's file atomically (a kill mid-write keeps the old one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ordered = sorted(entries)
        staging = self.path(key).with_suffix(".tmp.npz")
        np.savez_compressed(
            staging,
            sha256=np.array([sha for sha, _ in ordered]),
            starts=np.array([start for _, start in ordered], dtype=np.int64),
            scores=np.stack([entries[k] for k in ordered]).astype(np.float16),
        )
        staging.replace(self.path(key))


def teacher_scores(teacher: ServingModel, key: str, pool: PoolWindows, cache: PseudoLabelCache) -> FloatArray:
    """(n_windows, n_tags) scores of `teacher` on the pool's windows; only cache misses are computed."""
    cached = cache.read(key)
    keys = [(pool.sha256[t], int(s)) for t, s in zip(pool.track_index, pool.starts, strict=True)]
    missing = [row for row, k in enumerate(keys) if k not in cached]
    if missing:
        log.info(
            "%s: scoring %d of %d windows (%d cached)", key, len(missing), len(keys), len(keys) - len(missing)
        )
    batches = range(0, len(missing), TEACHER_BATCH)
    for begin in tqdm(batches, desc=key.split("-v")[0], unit="batch", disable=not missing):
        rows = missing[begin : begin + TEACHER_BATCH]
        for row, prediction in zip(rows, teacher.predict(list(pool.waveforms[rows])), strict=True):
            cached[keys[row]] = prediction.scores.astype(np.float16)
        if begin // TEACHER_BATCH % 20 == 19:  # checkpoint: a killed run loses at most 20 batches
            cache.write(key, cached)
    if missing:
        cache.write(key, cached)
    return np.stack([cached[k] for k in keys]).astype(np.float32)


def ensemble(
    teachers: Sequence[ServingModel], keys: Sequence[str], pool: PoolWindows, cache: PseudoLabelCache
) -> FloatArray:
    """The mean of the teachers' scores: the pseudo-label of one vocabulary."""
    return np.mean([teacher_scores(t, k, pool, cache) for t, k in zip(teachers, keys, strict=True)], axis=0)
