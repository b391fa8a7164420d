"""The API and the batch tools share one store and one way to compute a result.

A real server was running while the batch CLI wrote into its database (the `tagged` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np

from support.batch_helpers import MUSICNN, Catalogue, TaggedCatalogue, run_batch
from support.service_helpers import DEFAULT_MODEL, metric, upload
from tagger.store import open_store


def _exported(tagged: TaggedCatalogue) -> dict[str, dict]:
    rows = (json.loads(line) for line in tagged.exports["jsonl"].read_text().splitlines())
    return {Path(row["path"]).name: row for row in rows}


def test_the_server_serves_batch_tagged_tracks_and_an_upload_of_one_is_answered_from_the_store(
    catalogue: Catalogue, tagged: TaggedCatalogue, client: httpx.Client
) -> None:
    rows = _exported(tagged)
    store = open_store(tagged.db)
    for name, row in rows.items():
        taggram = client.get(f"/taggram/{row['id']}")
        assert taggram.status_code == 200, f"{name}: {taggram.text}"
        record = store.get(row["id"])
        assert record is not None
        np.testing.assert_array_equal(taggram.json()["scores"], record.taggram)
    store.close()

    windows_before = metric(client, "tagger_windows_inferred_total", model=DEFAULT_MODEL)
    uploaded = upload(client, catalogue.folder / "b.flac").json()
    assert uploaded["id"] == rows["b.flac"]["id"], "the API computes the same id for the same file"
    assert uploaded["scores"] == rows["b.flac"]["scores"]
    assert metric(client, "tagger_windows_inferred_total", model=DEFAULT_MODEL) == windows_before


def test_aggregate_endpoint_averages_stored_tracks_and_lists_the_missing_ones(
    tagged: TaggedCatalogue, client: httpx.Client
) -> None:
    rows = _exported(tagged)
    names = ("a.mp3", "b.flac", "c.ogg")
    ids = [rows[name]["id"] for name in names]
    unknown = "0" * 32
    answer = client.post("/aggregate", json={"ids": [*ids, ids[0], unknown], "model": DEFAULT_MODEL})
    assert answer.status_code == 200, answer.text
    mean = answer.json()
    assert mean["model"] == {"name": DEFAULT_MODEL, "version": 1} and mean["count"] == 3
    assert mean["missing"] == [unknown] and mean["tags"] == rows["a.mp3"]["tags"]
    for vector in ("scores", "embedding"):
        expected = np.mean([rows[name][vector] for name in names], axis=0)
        np.testing.assert_allclose(mean[vector], expected, rtol=0, atol=1e-7)

    assert client.post("/aggregate", json={"ids": [unknown]}).status_code == 404
    other_model = client.post("/aggregate", json={"ids": ids, "model": MUSICNN})
    assert other_model.status_code == 422 and DEFAULT_MODEL in other_model.json()["detail"]
    assert client.post("/aggregate", json={"ids": ["not-an-id"]}).status_code == 422


def test_aggregate_command_groups_a_manifest_and_matches_the_endpoint(
    catalogue: Catalogue,
    tagged: TaggedCatalogue,
    server_env: dict[str, str],
    client: httpx.Client,
    tmp_path: Path,
) -> None:
    rows = _exported(tagged)
    output = tmp_path / "artists.jsonl"
    aggregate = ("aggregate", "--manifest", catalogue.manifest, "--group-by", "artist", "--output", output)
    assert run_batch(*aggregate, env=server_env) == [], "with --output, nothing but logs outside the file"
    artists = {row["group"]: row for row in map(json.loads, output.read_text().splitlines())}
    assert set(artists) == set(catalogue.artists)
    for artist, paths in catalogue.artists.items():
        stored = [rows[path.name] for path in paths if path.name in rows]
        assert artists[artist]["count"] == len(stored) > 0
        assert sorted(artists[artist]["missing"]) == sorted(str(p) for p in paths if p.name not in rows)
        np.testing.assert_allclose(artists[artist]["scores"], np.mean([row["scores"] for row in stored], 0))

    ids_file = tmp_path / "ana.txt"
    ana = [rows[path.name]["id"] for path in catalogue.artists["Ana"] if path.name in rows]
    ids_file.write_text("\n".join(ana) + "\n")
    (from_ids,) = run_batch("aggregate", "--ids-file", ids_file, "--db", tagged.db, "--model", DEFAULT_MODEL)
    endpoint = client.post("/aggregate", json={"ids": ana}).json()
    assert from_ids["count"] == endpoint["count"] == 2 and from_ids["missing"] == endpoint["missing"] == []
    np.testing.assert_allclose(from_ids["scores"], endpoint["scores"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(from_ids["embedding"], artists["Ana"]["embedding"], rtol=0, atol=1e-7)


def test_batch_tagging_with_msd_musicnn_matches_the_api(
    catalogue: Catalogue, models_dir: Path, client: httpx.Client, tmp_path: Path
) -> None:
    """The ported musicnn model (song-level centring, 3 s windows) through the API, then the CLI."""
    songs = [catalogue.folder / "b.flac", catalogue.folder / "d.wav"]
    answers = {song.name: upload(client, song, model=MUSICNN, hop=1.5).json() for song in songs}
    db = tmp_path / "musicnn.db"
    (summary,) = run_batch(
        "tag", *songs, "--db", db, "--models-dir", models_dir, "--model", MUSICNN, "--hop", 1.5
    )
    assert summary["tagged"] == len(songs)
    store = open_store(db)
    for song in songs:
        answer = answers[song.name]
        record = store.get(answer["id"])
        assert record is not None
        assert record is not None, f"{song.name}: the CLI stored no result under the API's id"
        taggram = client.get(answer["taggram_url"]).json()
        np.testing.assert_allclose(record.taggram, taggram["scores"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(record.embedding, answer["embedding"], rtol=0, atol=1e-5)
    store.close()
