"""The Beam pipeline on Beam's local runner gives the API's results for the same files.

`FnApiRunner` is the in-process engine of Beam's DirectRunner; naming it keeps the run local and
offline (the DirectRunner first tries to download the Prism runner).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np

from batch import beam_pipeline
from support.batch_helpers import MIN_SECONDS, Catalogue
from support.service_helpers import DEFAULT_MODEL, MAX_DURATION_S, upload
from tagger.store import open_store

HOP_SECONDS = 0.5  # not the batch CLI tests' hop, so the API computes these results itself


def test_beam_pipeline_gives_the_api_vectors_and_records_bad_files(
    catalogue: Catalogue, models_dir: Path, client: httpx.Client, tmp_path: Path
) -> None:
    output, db = tmp_path / "out" / "tags", tmp_path / "beam.db"
    beam_pipeline.run(
        [
            *("--input", str(catalogue.folder / "*.*"), "--input", str(catalogue.folder / "[ab].*")),
            *("--output", str(output), "--db", str(db)),
            *("--models-dir", str(models_dir), "--model", DEFAULT_MODEL, "--hop", str(HOP_SECONDS)),
            *("--min-duration", str(MIN_SECONDS), "--max-duration", str(MAX_DURATION_S)),
            *("--batch-size", "8", "--runner", "FnApiRunner"),
        ]
    )
    rows = [json.loads(line) for shard in sorted(output.parent.glob("tags-*.jsonl")) for line in shard.open()]
    failures = [
        json.loads(line) for shard in output.parent.glob("tags_failures-*.jsonl") for line in shard.open()
    ]
    # Every file once, though two patterns match a.mp3 and b.flac; e.m4a is within this run's limits.
    taggable = [*catalogue.good, catalogue.folder / "e.m4a"]
    assert sorted(row["path"] for row in rows) == sorted(str(path) for path in taggable)
    assert {Path(f["path"]).name: f["error"] for f in failures} == {
        "broken.mp3": "UndecodableAudioError",
        "short.wav": "AudioTooShortError",
    }

    store = open_store(db)
    for row in rows:
        answer = upload(client, Path(row["path"]), hop=HOP_SECONDS).json()
        assert row["id"] == answer["id"] and row["model"] == DEFAULT_MODEL
        for vector in ("scores", "embedding"):
            np.testing.assert_allclose(row[vector], answer[vector], rtol=0, atol=1e-5)
        taggram = client.get(answer["taggram_url"]).json()
        record = store.get(row["id"])
        assert record is not None
        np.testing.assert_allclose(record.taggram, taggram["scores"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(record.times, taggram["times"])
    store.close()
