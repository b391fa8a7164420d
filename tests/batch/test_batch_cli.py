"""`python -m batch tag` for real: subprocesses, ffmpeg-made audio, a real SQLite store.

The `tagged` fixture ran the folder with `--limit 3`, then the manifest (which also names a file
that does not exist), both with the server's TAGGER_* settings and into its database.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from support.audio_files import make_audio
from support.batch_helpers import REPO, Catalogue, TaggedCatalogue, batch_command, batch_env, run_batch
from support.service_helpers import DEFAULT_MODEL
from tagger.store import open_store


def test_a_limited_run_stops_and_the_next_run_resumes_without_redoing_work(
    catalogue: Catalogue, tagged: TaggedCatalogue
) -> None:
    first, second = tagged.first, tagged.second
    # One decode thread takes the folder in order: a.mp3, b.flac, broken.mp3, then the limit.
    assert first["total"] == 7  # the folder's audio files (the manifest beside them is not audio)
    assert (first["tagged"], first["failed"], first["skipped"], first["not_reached"]) == (2, 1, 0, 4)

    assert second["total"] == 8 and second["not_reached"] == 0 and not second["interrupted"]
    assert second["skipped"] == 2, "what the first run stored is not decoded again"
    assert second["tagged"] == len(catalogue.good) - 2
    assert second["failed"] == 4, "the bad files are tried again (they may have been fixed) and fail again"

    store = open_store(tagged.db)
    rows = [json.loads(line) for line in tagged.exports["jsonl"].read_text().splitlines()]
    records = [record for row in rows if (record := store.get(row["id"])) is not None]
    assert len(records) == len(rows)
    computed_before = [record for record in records if record.created_at < tagged.second_started_at]
    assert len(computed_before) == 2, "results of the first run keep their first timestamps"
    store.close()


def test_each_file_that_cannot_be_tagged_is_recorded_with_its_reason(
    catalogue: Catalogue, tagged: TaggedCatalogue
) -> None:
    with closing(sqlite3.connect(tagged.db)) as connection:
        rows = connection.execute(
            "SELECT path, model_name, error, reason FROM failures ORDER BY path"
        ).fetchall()
    failures = {Path(path).name: (model, error, reason) for path, model, error, reason in rows}
    assert set(failures) == {"broken.mp3", "e.m4a", "gone.mp3", "short.wav"}
    assert {model for model, _, _ in failures.values()} == {DEFAULT_MODEL}
    assert failures["broken.mp3"][1] == "UndecodableAudioError"
    assert failures["e.m4a"][1] == "AudioTooLongError" and "3.4 s" in failures["e.m4a"][2]
    assert failures["short.wav"][1] == "AudioTooShortError" and "0.5 s" in failures["short.wav"][2]
    assert failures["gone.mp3"][1] == "FileNotFoundError"


def test_the_exports_hold_every_tagged_track_with_its_stored_vectors(
    catalogue: Catalogue, tagged: TaggedCatalogue
) -> None:
    jsonl = [json.loads(line) for line in tagged.exports["jsonl"].read_text().splitlines()]
    parquet = pq.read_table(tagged.exports["parquet"]).to_pylist()
    assert [row["path"] for row in jsonl] == [str(path) for path in catalogue.good], "manifest order"
    assert [row["id"] for row in parquet] == [row["id"] for row in jsonl]
    store = open_store(tagged.db)
    for row, columns in zip(jsonl, parquet, strict=True):
        record = store.get(row["id"])
        assert record is not None
        assert row["model"] == columns["model"] == DEFAULT_MODEL and row["tags"] == record.tags
        np.testing.assert_array_equal(row["scores"], record.scores)
        np.testing.assert_array_equal(columns["scores"], record.scores)
        np.testing.assert_array_equal(columns["embedding"], record.embedding)
        np.testing.assert_allclose(record.scores, record.taggram.mean(axis=0), atol=1e-6)
    store.close()


def test_interrupted_and_killed_runs_lose_no_stored_result_and_the_next_run_finishes(
    models_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    songs = [make_audio(folder / f"{i:02d}.wav", seconds=4 + i / 10) for i in range(24)]
    db = tmp_path / "runs.db"
    tag = ("tag", folder, "--db", db, "--models-dir", models_dir, "--model", DEFAULT_MODEL, "--hop", 0.125)
    # Overlapping windows scored one at a time: runs long enough to be stopped in the middle.
    slow = (*tag, "--batch-size", 1, "--workers", 1)

    # Ctrl-C: the tracks in flight finish, the run says what it did and exits 130.
    with _started(slow, tmp_path / "interrupted.log") as process:
        _wait_for_results(db, process, more_than=0)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    interrupted = json.loads((tmp_path / "interrupted.log").read_text().splitlines()[-1])
    assert interrupted["interrupted"] and 1 <= interrupted["tagged"] == _count_results(db) < len(songs)

    # kill -9 while resuming: no stored result is lost.
    with _started(slow, tmp_path / "killed.log") as process:
        _wait_for_results(db, process, more_than=_count_results(db))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    stored = _count_results(db)
    assert stored < len(songs), f"the run finished before the kill:\n{(tmp_path / 'killed.log').read_text()}"

    (summary,) = run_batch(*tag)
    assert summary["skipped"] == stored and summary["tagged"] == len(songs) - stored
    assert summary["failed"] == 0 and _count_results(db) == len(songs)


@contextmanager
def _started(args: tuple[object, ...], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The batch CLI as a background process, its stdout (the summary) in `log` and stderr discarded."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            batch_command(*args), cwd=REPO, env=batch_env(), stdout=output, stderr=subprocess.DEVNULL
        )
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def _wait_for_results(
    db: Path, process: subprocess.Popen[bytes], *, more_than: int, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before it could be stopped")
        if _count_results(db) > more_than:
            return
        time.sleep(0.01)
    raise TimeoutError(f"no new result stored in {timeout} s")


def _count_results(db: Path) -> int:
    try:
        with closing(sqlite3.connect(db)) as connection:
            return connection.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the run has not created the table yet
        return 0
