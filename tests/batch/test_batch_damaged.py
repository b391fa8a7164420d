"""The batch CLI tags the damaged corpus as the API does: no failure, each warning stored and exported."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from support.batch_helpers import run_batch
from support.damaged_audio import DamagedFile
from support.service_helpers import server_settings
from tagger.audio import decode_audio
from tagger.store import open_store


@pytest.mark.slow  # tags 38 songs of 12 s in a subprocess: about a minute on 2 cores
def test_the_batch_cli_tags_damaged_files_and_keeps_their_warnings(
    models_dir: Path, damaged_corpus: dict[str, DamagedFile], tmp_path: Path
) -> None:
    folder = next(iter(damaged_corpus.values())).path.parent
    db = tmp_path / "tagger.db"
    exports = [tmp_path / "tracks.jsonl", tmp_path / "tracks.parquet"]
    (summary,) = run_batch(
        "tag",
        folder,
        "--workers",
        1,
        *(f"--export={path}" for path in exports),
        env=server_settings(models_dir, db),
    )
    songs = sorted(path for path in folder.iterdir() if path.suffix != ".png")
    assert (summary["total"], summary["tagged"], summary["failed"]) == (len(songs), len(songs), 0)
    assert summary["damaged"] == sum(file.reported for file in damaged_corpus.values())
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("SELECT count(*) FROM failures").fetchone()[0] == 0

    jsonl = {row["path"]: row for row in map(json.loads, exports[0].read_text().splitlines())}
    parquet = {row["path"]: row for row in pq.read_table(exports[1]).to_pylist()}
    store = open_store(db)
    for path in songs:
        report = decode_audio(path, sample_rate=16_000).report
        row = jsonl[str(path)]
        record = store.get(row["id"])
        assert record is not None and record.decode == report, path.name
        assert row["decode"] == parquet[str(path)]["decode"] == (report and report.as_dict()), path.name
    store.close()
