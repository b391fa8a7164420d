"""Manifests, vocabulary and the group-disjoint split: no artist or file may reach two splits, ever."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tagger.tracks import Track, read_manifest
from training.__main__ import main
from training.dataset import (
    SPLIT_NAMES,
    Splits,
    check_unlabelled,
    multi_hot,
    read_unlabelled,
    read_vocabulary,
    split_by_group,
    write_manifest,
    write_vocabulary,
)

VOCABULARY = ["rock", "jazz", "piano", "rare"]


def catalogue(num_artists: int = 30, songs_per_artist: int = 4) -> list[Track]:
    """Artists with different numbers of songs; `rare` is on few of them."""
    rng = np.random.default_rng(0)
    tracks = []
    for artist in range(num_artists):
        for song in range(1 + (songs_per_artist + artist) % songs_per_artist):
            tags = tuple(tag for tag in VOCABULARY[:3] if rng.random() < 0.5)
            tags += ("rare",) if artist % 10 == 0 else ()
            tracks.append(Track(audio=f"/music/a{artist}/s{song}.mp3", tags=tags, group=f"artist{artist}"))
    return tracks


def groups(tracks: tuple[Track, ...]) -> set[str]:
    return {track.group for track in tracks}


def test_split_keeps_every_artist_in_one_split_and_every_track_once() -> None:
    tracks = catalogue()
    splits = split_by_group(tracks, valid_fraction=0.2, test_fraction=0.2, seed=1)
    assert not groups(splits.train) & groups(splits.valid)
    assert not groups(splits.train) & groups(splits.test)
    assert not groups(splits.valid) & groups(splits.test)
    assigned = [t.audio for name in SPLIT_NAMES for t in getattr(splits, name)]
    assert sorted(assigned) == sorted(t.audio for t in tracks)
    for name, fraction in (("valid", 0.2), ("test", 0.2)):
        assert abs(len(getattr(splits, name)) / len(tracks) - fraction) < 0.08
    assert all(t.split == name for name in SPLIT_NAMES for t in getattr(splits, name))


def test_split_is_reproducible_by_seed() -> None:
    tracks = catalogue()
    first, again = (split_by_group(tracks, valid_fraction=0.2, test_fraction=0.2, seed=7) for _ in range(2))
    other = split_by_group(tracks, valid_fraction=0.2, test_fraction=0.2, seed=8)
    assert first == again
    assert groups(first.test) != groups(other.test)


@pytest.mark.parametrize("shared", ["group", "audio"])
def test_splits_refuse_a_group_or_file_in_two_splits(shared: str) -> None:
    train = Track("/music/x.mp3", ("rock",), "artist1")
    test = Track(
        "/music/x.mp3" if shared == "audio" else "/music/y.mp3",
        ("rock",),
        "artist1" if shared == "group" else "b",
    )
    with pytest.raises(ValueError, match=f"{shared} .* is in both 'train' and 'test'"):
        Splits(train=(train,), valid=(), test=(test,))


def test_oversampling_happens_after_the_split_and_only_on_train() -> None:
    splits = split_by_group(catalogue(), valid_fraction=0.2, test_fraction=0.2, seed=3)
    balanced = splits.oversampled(VOCABULARY, min_positives=20, seed=0)

    assert balanced.valid == splits.valid and balanced.test == splits.test
    counts = Counter(tag for track in balanced.train for tag in track.tags)
    assert all(counts[tag] >= 20 for tag in VOCABULARY if any(tag in t.tags for t in splits.train))
    # The copies are training tracks; none of them comes from an evaluation split.
    assert set(balanced.train) == set(splits.train)
    assert len(balanced.train) > len(splits.train)
    assert not groups(balanced.train) & (groups(balanced.valid) | groups(balanced.test))


def test_a_manifest_with_splits_is_kept_as_given_and_checked() -> None:
    tracks = [
        dataclasses.replace(t, split="train" if i % 3 else "test") for i, t in enumerate(catalogue(6, 3))
    ]
    by_artist = {t.group: t.split for t in tracks}
    honest = [dataclasses.replace(t, split=by_artist[t.group]) for t in tracks]
    splits = split_by_group(honest, valid_fraction=0.2, test_fraction=0.2, seed=0)
    assert [t.audio for t in splits.test] == [t.audio for t in honest if t.split == "test"]
    with pytest.raises(ValueError, match="is in both"):
        split_by_group(tracks, valid_fraction=0.2, test_fraction=0.2, seed=0)


def test_unlabelled_audio_must_not_share_an_artist_with_evaluation_splits() -> None:
    splits = split_by_group(catalogue(), valid_fraction=0.2, test_fraction=0.2, seed=0)
    from_train = [Track("/pool/1.mp3", group=splits.train[0].group)]
    check_unlabelled(from_train, splits)
    from_test = [Track("/pool/2.mp3", group=splits.test[0].group)]
    with pytest.raises(ValueError, match="'unlabelled' and 'test'|'test' and 'unlabelled'"):
        check_unlabelled(from_test, splits)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_manifest_round_trip_keeps_uris_and_resolves_relative_paths(tmp_path: Path, suffix: str) -> None:
    tracks = [
        Track(str(tmp_path / "audio" / "a.flac"), ("rock", "piano"), "artist1", "train"),
        Track("gs://bucket/b.mp3", (), "artist2", ""),
    ]
    path = tmp_path / "lists" / f"manifest{suffix}"
    write_manifest(path, tracks)
    assert "../audio/a.flac" in path.read_text()
    assert read_manifest(path) == tracks


def test_multi_hot_targets_and_unknown_tags(tmp_path: Path) -> None:
    write_vocabulary(tmp_path / "vocabulary.txt", VOCABULARY)
    vocabulary = read_vocabulary(tmp_path / "vocabulary.txt")
    targets = multi_hot([Track("a", ("jazz", "rare")), Track("b", ())], vocabulary)
    np.testing.assert_array_equal(targets, [[0, 1, 0, 1], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="'metal' .* not in the vocabulary"):
        multi_hot([Track("c", ("metal",))], vocabulary)


def test_unlabelled_pool_from_a_folder_or_a_list(tmp_path: Path) -> None:
    for name in ("b.flac", "sub/a.mp3", "notes.txt"):
        (tmp_path / "pool" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pool" / name).write_bytes(b"")
    from_folder = read_unlabelled(tmp_path / "pool")
    assert [Path(t.audio).name for t in from_folder] == ["b.flac", "a.mp3"]
    (tmp_path / "list.txt").write_text("pool/b.flac\ns3://bucket/c.ogg\n")
    assert [t.audio for t in read_unlabelled(tmp_path / "list.txt")] == [
        from_folder[0].audio,
        "s3://bucket/c.ogg",
    ]


def test_split_command_writes_disjoint_manifests_and_oversamples_train(tmp_path: Path) -> None:
    write_manifest(tmp_path / "all.jsonl", catalogue())
    write_vocabulary(tmp_path / "vocabulary.txt", VOCABULARY)
    main(
        [
            "split",
            "--manifest",
            str(tmp_path / "all.jsonl"),
            "--output-dir",
            str(tmp_path / "splits"),
            "--valid-fraction",
            "0.2",
            "--test-fraction",
            "0.2",
            "--vocabulary",
            str(tmp_path / "vocabulary.txt"),
            "--oversample-min-positives",
            "15",
        ]
    )
    written = {name: tuple(read_manifest(tmp_path / "splits" / f"{name}.csv")) for name in SPLIT_NAMES}
    Splits(**written)  # raises if any artist or file is in two splits
    assert Counter(tag for t in written["train"] for tag in t.tags)["rare"] >= 15
    assert sum(len(tracks) for tracks in written.values()) > len(catalogue())
