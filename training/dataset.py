"""Labelled manifests, the tag vocabulary, unlabelled pools and the group-disjoint split.

A past data-leakage bug came from resampling the whole dataset before splitting it: copies of one
song landed in both train and test. Here the only resampling is `Splits.oversampled`, a method of
an already-validated split that touches nothing but `train`; and every `Splits` checks, when it is
built, that no group (artist) and no audio file appears in two splits.

Manifests and tracks are the core's (`tagger.tracks`): `audio` (a path relative to the manifest, an
absolute path or a URI such as `gs://bucket/song.mp3`), `tags`, `group` (the artist, or whatever
must not straddle splits) and an optional `split`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.tracks import CSV_TAG_SEPARATOR, Track, audio_files, is_uri, read_manifest

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "valid", "test")
CSV_COLUMNS = ("audio", "tags", "group", "split")


@dataclass(frozen=True)
class Splits:
    """Train, validation and test tracks; building one proves no group or file is in two of them."""

    train: tuple[Track, ...]
    valid: tuple[Track, ...]
    test: tuple[Track, ...]

    def __post_init__(self) -> None:
        check_disjoint({name: getattr(self, name) for name in SPLIT_NAMES})

    def oversampled(self, vocabulary: list[str], *, min_positives: int, seed: int) -> Splits:
        """Repeat training tracks of rare tags until each has `min_positives`; valid and test are untouched.

        Resampling exists only here, after the split, so it cannot leak copies into evaluation.
        """
        rng = np.random.default_rng(seed)
        train = list(self.train)
        counts = Counter(tag for track in train for tag in track.tags)
        for tag in sorted(vocabulary, key=lambda tag: counts[tag]):
            positives = [track for track in self.train if tag in track.tags]
            if not positives:
                log.warning("tag %r has no training positives; it cannot be oversampled", tag)
                continue
            while counts[tag] < min_positives:
                copy = positives[rng.integers(len(positives))]
                train.append(copy)
                counts.update(copy.tags)
        return dataclasses.replace(self, train=tuple(train))


def check_disjoint(named_tracks: dict[str, tuple[Track, ...]]) -> None:
    """Raise `ValueError` if a non-empty group or an audio file appears under two names."""
    for attribute in ("group", "audio"):
        owner: dict[str, str] = {}
        for name, tracks in named_tracks.items():
            for track in tracks:
                key = getattr(track, attribute)
                if key and owner.setdefault(key, name) != name:
                    raise ValueError(
                        f"{attribute} {key!r} is in both {owner[key]!r} and {name!r}; splits must be "
                        f"{attribute}-disjoint or evaluation leaks training data."
                    )


def split_by_group(tracks: list[Track], *, valid_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Assign whole groups to train/valid/test, about the given fractions of tracks each.

    Tracks whose manifest already names a split keep it (then every track must name one).
    """
    named = {track.split for track in tracks}
    if named - {""}:
        if "" in named or not named <= set(SPLIT_NAMES):
            raise ValueError(
                f"Either every track names a split in {SPLIT_NAMES} or none does. Received: {named}."
            )
        return Splits(*(tuple(t for t in tracks if t.split == name) for name in SPLIT_NAMES))
    if not (valid_fraction >= 0 and test_fraction >= 0 and valid_fraction + test_fraction < 1):
        raise ValueError(
            f"Fractions must leave room for training. Received: {valid_fraction=}, {test_fraction=}."
        )
    by_group: dict[str, list[Track]] = {}
    for track in tracks:
        if not track.group:
            raise ValueError(
                f"Every labelled track needs a group (artist) to split by. Received: {track.audio!r}."
            )
        by_group.setdefault(track.group, []).append(track)
    groups = sorted(by_group)
    np.random.default_rng(seed).shuffle(groups)
    targets = {"valid": valid_fraction * len(tracks), "test": test_fraction * len(tracks)}
    assigned: dict[str, list[Track]] = {name: [] for name in SPLIT_NAMES}
    for group in groups:
        # Fill test, then valid, up to their targets; everything else trains.
        name = next((n for n in ("test", "valid") if len(assigned[n]) < targets[n]), "train")
        assigned[name].extend(dataclasses.replace(track, split=name) for track in by_group[group])
    return Splits(*(tuple(assigned[name]) for name in SPLIT_NAMES))


def check_unlabelled(unlabelled: list[Track], splits: Splits) -> None:
    """Unlabelled audio must share no group or file with valid/test (it may overlap train: never scored)."""
    check_disjoint({"unlabelled": tuple(unlabelled), "valid": splits.valid, "test": splits.test})


def multi_hot(tracks: list[Track] | tuple[Track, ...], vocabulary: list[str]) -> np.ndarray:
    """(num_tracks, num_tags) float32 targets; an unknown tag is an error, not a silently dropped label."""
    index = {tag: position for position, tag in enumerate(vocabulary)}
    targets = np.zeros((len(tracks), len(vocabulary)), np.float32)
    for row, track in enumerate(tracks):
        for tag in track.tags:
            if tag not in index:
                raise ValueError(f"Tag {tag!r} of {track.audio!r} is not in the vocabulary.")
            targets[row, index[tag]] = 1.0
    return targets


def read_vocabulary(path: Path) -> list[str]:
    """One tag per line, in output order."""
    tags = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(set(tags)) != len(tags):
        raise ValueError(f"The vocabulary {path} lists a tag twice.")
    return tags


def write_vocabulary(path: Path, tags: list[str]) -> None:
    Path(path).write_text("".join(f"{tag}\n" for tag in tags))


def write_manifest(path: Path, tracks: list[Track] | tuple[Track, ...]) -> None:
    """Write tracks as CSV or JSON lines (by suffix), with local paths relative to the manifest."""
    path = Path(path)
    rows = [
        {"audio": _relative(track.audio, path.parent), "tags": list(track.tags), "group": track.group}
        | {"split": track.split}
        for track in tracks
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({**row, "tags": CSV_TAG_SEPARATOR.join(row["tags"])} for row in rows)


def read_unlabelled(source: Path) -> list[Track]:
    """Unlabelled tracks from a folder of audio, a `.txt` list of paths/URIs, or a manifest (tags ignored)."""
    source = Path(source)
    if source.is_dir():
        return [Track(audio=str(path.resolve())) for path in audio_files(source)]
    return [dataclasses.replace(track, tags=()) for track in read_manifest(source)]


def _relative(audio: str, base: Path) -> str:
    return audio if is_uri(audio) else os.path.relpath(audio, base.resolve())
