"""The batch CLI and Beam tag the damaged corpus as the API does: no failure, warnings stored and exported."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from batch import beam_pipeline
from support.batch_helpers import run_batch
from support.damaged_audio import DamagedFile
from support.service_helpers import DEFAULT_MODEL, server_settings
from tagger.audio import decode_audio
from tagger.store import open_store


@pytest.mark.slow  # tags 44 songs of 12 s in a subprocess: about a minute on 2 cores
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


BEAM_CASES = ("mp3_noise_burst", "flac_truncated", "m4a_noise_burst", "ogg_trailing_noise", "mp3_ape_id3v1")


@pytest.mark.slow  # Beam's local runner starts in-process and tags five songs of 12 s
def test_the_beam_pipeline_outputs_the_decode_reports(
    models_dir: Path, damaged_corpus: dict[str, DamagedFile], tmp_path: Path
) -> None:
    output, db = tmp_path / "out" / "tags", tmp_path / "beam.db"
    inputs = [arg for case in BEAM_CASES for arg in ("--input", str(damaged_corpus[case].path))]
    beam_pipeline.run(
        [*inputs, "--output", str(output), "--db", str(db), "--models-dir", str(models_dir)]
        + ["--model", DEFAULT_MODEL, "--runner", "FnApiRunner"]
    )
    rows = {
        row["path"]: row
        for shard in sorted(output.parent.glob("tags-*.jsonl"))
        for row in map(json.loads, shard.read_text().splitlines())
    }
    assert not any(shard.read_text() for shard in output.parent.glob("tags_failures-*.jsonl"))
    store = open_store(db)
    for case in BEAM_CASES:
        file = damaged_corpus[case]
        report = decode_audio(file.path, sample_rate=16_000).report
        assert (report is not None) == file.reported, case
        row = rows[str(file.path)]
        assert row["decode"] == (report and report.as_dict()), case
        record = store.get(row["id"])
        assert record is not None and record.decode == report, case
    store.close()
