"""Profiles in both stores (saved, replaced, listed by kind, deleted, kept through a reopen) and their
vectors: the report's mean, majority vote and softmax identities."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tagger.errors import EmptyProfileError, ProfileModelsError, ResultNotFoundError
from tagger.predictions import TagRecord
from tagger.profiles import new_profile, profile_vector, save_profile
from tagger.store import MIGRATIONS, open_store


def make_record(result_id: str) -> TagRecord:
    taggram = np.full((2, 4), 0.5, dtype=np.float32)
    return TagRecord(
        id=result_id,
        model_name="tiny",
        model_version=1,
        tags=["a", "b", "c", "d"],
        duration=2.0,
        window_seconds=1.0,
        hop_seconds=1.0,
        times=np.array([0.0, 1.0]),
        taggram=taggram,
        scores=taggram.mean(axis=0),
        embedding=np.arange(5, dtype=np.float32) + len(result_id.strip("a")),
    )


def record_with(scores: list[float], result_id: str = "a" * 32, version: int = 1) -> TagRecord:
    return replace(make_record(result_id), scores=np.array(scores, dtype=np.float32), model_version=version)


def test_profiles_are_saved_replaced_listed_and_deleted(location: str) -> None:
    store = open_store(location)
    first, second = record_with([0.1] * 4, "a" * 32), record_with([0.2] * 4, "b" * 32)
    store.save(first)
    store.save(second)
    save_profile(store, "band", "artist", [first.id, first.id, second.id])
    save_profile(store, "radio", "curator", [second.id])
    band = store.get_profile("band")
    assert band is not None and band.ids == [first.id, second.id]  # an id given twice counts once
    save_profile(store, "band", "artist", [second.id])
    store.close()

    store = open_store(location)
    band = store.get_profile("band")
    assert band is not None and band.ids == [second.id]
    assert [p.name for p in store.profiles()] == ["band", "radio"]
    assert [p.name for p in store.profiles("curator")] == ["radio"]
    assert store.delete_profile("band") and not store.delete_profile("band")
    assert store.get_profile("band") is None
    with pytest.raises(ResultNotFoundError):
        save_profile(store, "ghost", "playlist", ["c" * 32])
    store.close()


def test_a_version_2_database_gains_the_profiles_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    for number, statement in enumerate(MIGRATIONS[:2], start=1):
        old.execute(statement)
        old.execute(f"PRAGMA user_version={number}")
    old.close()
    store = open_store(path)
    assert store.profiles() == []
    store.close()


def test_a_profile_needs_tracks_of_one_model_version() -> None:
    with pytest.raises(EmptyProfileError):
        new_profile("x", "artist", [], [])
    one, other = record_with([0.5] * 4, "a" * 32, version=1), record_with([0.5] * 4, "b" * 32, version=2)
    with pytest.raises(ProfileModelsError, match="one model version"):
        new_profile("x", "artist", [one.id, other.id], [one, other])


def test_mean_majority_and_softmax_identities() -> None:
    records = [
        record_with([0.9, 0.1, 0.2, 0.1]),
        record_with([0.8, 0.7, 0.1, 0.1]),
        record_with([0.1, 0.6, 0.1, 0.1]),
    ]
    np.testing.assert_allclose(
        profile_vector(records, "tags", "mean"), [0.6, 0.4666667, 0.1333333, 0.1], rtol=1e-6
    )
    np.testing.assert_allclose(profile_vector(records, "tags", "majority"), [2 / 3, 1 / 3, 0, 0])
    softmax = profile_vector(records, "tags", "softmax")
    odds = [[p / (1 - p) for p in record.scores] for record in records]
    expected = np.mean([np.array(row) / sum(row) for row in odds], axis=0)
    np.testing.assert_allclose(softmax, expected, rtol=1e-5)
    assert softmax.sum() == pytest.approx(1.0)
    embedding = profile_vector(records, "embedding", "majority")  # embeddings are always averaged
    np.testing.assert_allclose(embedding, np.mean([r.embedding for r in records], axis=0), rtol=1e-6)
