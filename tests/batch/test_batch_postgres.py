"""`python -m batch tag` into a real PostgreSQL store (TAGGER_DB=postgresql://…): results and the failures
table live in that database, beside the API replicas that read it, and a second run resumes from it."""

from __future__ import annotations

from pathlib import Path

from support.batch_helpers import MAX_SECONDS, MIN_SECONDS, Catalogue, run_batch
from support.postgres_server import PostgresServer
from support.service_helpers import DEFAULT_MODEL
from tagger.store import open_store


def test_a_catalogue_run_into_postgres_stores_results_and_failures_and_resumes(
    catalogue: Catalogue, models_dir: Path, postgres: PostgresServer
) -> None:
    url = postgres.database()
    env = {"TAGGER_DB": url, "TAGGER_MODELS_DIR": str(models_dir), "TAGGER_DEFAULT_MODEL": DEFAULT_MODEL}
    tag = ("tag", catalogue.manifest, "--min-duration", MIN_SECONDS, "--max-duration", MAX_SECONDS)
    (first,) = run_batch(*tag, env=env)
    assert (first["tagged"], first["failed"]) == (len(catalogue.good), 4)

    failures = postgres.rows(url, "SELECT path, model_name, error FROM failures ORDER BY path")
    assert {(Path(str(path)).name, model, error) for path, model, error in failures} == {
        ("broken.mp3", DEFAULT_MODEL, "UndecodableAudioError"),
        ("e.m4a", DEFAULT_MODEL, "AudioTooLongError"),
        ("gone.mp3", DEFAULT_MODEL, "FileNotFoundError"),
        ("short.wav", DEFAULT_MODEL, "AudioTooShortError"),
    }
    store = open_store(url)
    stored = store.since(0, limit=100)
    store.close()
    assert len(stored) == len(catalogue.good)
    assert {record.model_name for _, record in stored} == {DEFAULT_MODEL}

    (second,) = run_batch(*tag, env=env)
    assert (second["skipped"], second["tagged"], second["failed"]) == (len(catalogue.good), 0, 4)
    assert len(postgres.rows(url, "SELECT 1 FROM failures")) == 4, "a failure again replaces its row"
