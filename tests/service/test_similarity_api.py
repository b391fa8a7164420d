"""GET/POST /similar, POST /search and profiles over real HTTP, on the tiny real models and synthetic songs.

The server has its own database so the catalogue is known: four styles, each with a second song
(detuned), and copies of the first drone (pitch-shifted, re-encoded, and a lossless copy that decodes
to the same samples: an exact duplicate).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.server_process import REPO, ServerProcess
from support.service_helpers import API_KEY, DEFAULT_MODEL, OTHER_MODEL, server_settings, upload
from support.styled_audio import STYLES, make_styled_song, pitch_shift, reencode


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("styled")
    made = {}
    for style in STYLES:
        made[style] = make_styled_song(folder / f"{style}.wav", style, seconds=6)
        made[f"{style}-2"] = make_styled_song(folder / f"{style}-2.ogg", style, variant=3, seconds=6)
    made["drone-shifted"] = pitch_shift(made["drone"], folder / "drone-shifted.mp3", cents=30)
    made["drone-mp3"] = reencode(made["drone"], folder / "drone-copy.mp3")
    made["drone-flac"] = reencode(made["drone"], folder / "drone-copy.flac")
    return made


@pytest.fixture(scope="module")
def catalogue(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("similar-server")
    process = ServerProcess(server_settings(models_dir, directory / "tagger.db"), directory / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(catalogue: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=catalogue.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def ids(http: httpx.Client, songs: dict[str, Path]) -> dict[str, str]:
    return {name: upload(http, path).raise_for_status().json()["id"] for name, path in songs.items()}


def test_nearest_tracks_are_copies_of_the_song_and_exclude_itself_and_exact_duplicates(
    http: httpx.Client, ids: dict[str, str]
) -> None:
    answer = http.get(f"/similar/{ids['drone']}", params={"k": 50}).raise_for_status().json()
    found = [item["id"] for item in answer["results"]]
    assert answer["query"] == ids["drone"]
    assert answer["model"]["name"] == DEFAULT_MODEL
    assert ids["drone"] not in found
    assert ids["drone-flac"] not in found  # the same samples, stored again: an exact duplicate
    unrelated = [found.index(result_id) for name, result_id in ids.items() if not name.startswith("drone")]
    assert found.index(ids["drone-shifted"]) < min(unrelated)
    assert found.index(ids["drone-mp3"]) < min(unrelated)
    scores = [item["score"] for item in answer["results"]]
    assert scores == sorted(scores, reverse=True) and scores[0] <= 1.0 + 1e-6


def test_similar_by_tags_ranks_by_the_cosine_of_song_vectors(http: httpx.Client, ids: dict[str, str]) -> None:
    answer = http.get(f"/similar/{ids['beat']}", params={"k": 50, "by": "tags"}).raise_for_status().json()
    query = http.get(f"/tags/{ids['beat']}").json()["scores"]

    def cosine(result_id: str) -> float:
        other = http.get(f"/tags/{result_id}").json()["scores"]
        dot = sum(a * b for a, b in zip(query, other, strict=True))
        return dot / (sum(a * a for a in query) ** 0.5 * sum(b * b for b in other) ** 0.5)

    assert [item["id"] for item in answer["results"]] == sorted(
        (item["id"] for item in answer["results"]), key=lambda result_id: -cosine(result_id)
    )
    for item in answer["results"]:
        assert item["score"] == pytest.approx(cosine(item["id"]), abs=1e-5)
    # Every other stored track of the model, once: the query and the FLAC twin of the drone are not listed.
    assert len(answer["results"]) == len(ids) - 2


def test_similar_for_an_upload_tags_it_then_searches(
    http: httpx.Client, ids: dict[str, str], songs: dict[str, Path], tmp_path: Path
) -> None:
    copy = reencode(songs["bells"], tmp_path / "bells-again.m4a")
    with copy.open("rb") as file:
        answer = (
            http.post("/similar", params={"k": 1}, files={"file": (copy.name, file)})
            .raise_for_status()
            .json()
        )
    assert answer["results"][0]["id"] == ids["bells"]
    assert http.get(f"/tags/{answer['query']}").status_code == 200  # the upload was stored, as POST /tag does


def test_tag_search_orders_by_weighted_score_with_negative_weights_and_filters(
    http: httpx.Client, ids: dict[str, str]
) -> None:
    weights = {"rock": 1.0, "Calm": 0.5, "jazz": -1.0}  # tag names match case-insensitively
    answer = http.post("/search", json={"weights": weights, "k": 100}).raise_for_status().json()
    results = answer["results"]
    stored = {
        result_id: http.get(f"/tags/{result_id}").json() for result_id in {item["id"] for item in results}
    }

    def weighted(result_id: str) -> float:
        record = stored[result_id]
        by_tag = dict(zip(record["tags"], record["scores"], strict=True))
        return by_tag["rock"] + 0.5 * by_tag["calm"] - by_tag["jazz"]

    for item in results:
        assert item["score"] == pytest.approx(weighted(item["id"]), abs=1e-5)
    assert [item["score"] for item in results] == sorted((item["score"] for item in results), reverse=True)
    listed = [item["id"] for item in results]
    assert len(listed) == len(set(listed))
    assert (ids["drone"] in listed) != (ids["drone-flac"] in listed)  # identical twins are listed once
    assert set(ids.values()) - {ids["drone"], ids["drone-flac"]} <= set(listed)

    jazz = sorted(dict(zip(r["tags"], r["scores"], strict=True))["jazz"] for r in stored.values())
    floor = jazz[len(jazz) // 2]
    filtered = http.post(
        "/search", json={"weights": weights, "k": 100, "min_scores": {"jazz": floor}, "max_duration": 6.05}
    ).raise_for_status()
    kept = [item["id"] for item in filtered.json()["results"]]
    expected = [
        item["id"]
        for item in results
        if dict(zip(stored[item["id"]]["tags"], stored[item["id"]]["scores"], strict=True))["jazz"] >= floor
        and stored[item["id"]]["duration"] <= 6.05
    ]
    assert kept == expected and 0 < len(kept) < len(results)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"weights": {"polka": 1}}, 422, "unknown tag 'polka'"),
        ({"weights": {"rock": 1}, "min_scores": {"polka": 0.5}}, 422, "unknown tag 'polka'"),
        ({"weights": {}}, 422, "weights"),
        ({"weights": {"rock": 1}, "model": "nope"}, 404, "no model named 'nope'"),
    ],
)
def test_bad_searches_are_explained(
    http: httpx.Client, ids: dict[str, str], body: dict[str, object], status: int, words: str
) -> None:
    response = http.post("/search", json=body)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_unknown_ids_and_bad_parameters(http: httpx.Client, ids: dict[str, str]) -> None:
    unknown = http.get(f"/similar/{'0' * 32}")
    assert unknown.status_code == 404 and "no result with id" in unknown.json()["detail"]
    assert http.get(f"/similar/{ids['drone']}", params={"by": "mood"}).status_code == 422
    assert http.get(f"/similar/{ids['drone']}", params={"k": 0}).status_code == 422
    assert httpx.get(f"{http.base_url}/similar/{ids['drone']}").status_code == 401


def test_profiles_crud_and_errors(http: httpx.Client, ids: dict[str, str], songs: dict[str, Path]) -> None:
    created = http.put("/profiles/band one", json={"kind": "artist", "ids": [ids["beat"], ids["beat-2"]]})
    assert created.raise_for_status().json()["ids"] == [ids["beat"], ids["beat-2"]]
    assert http.get("/profiles/band one").json()["kind"] == "artist"
    replaced = http.put(
        "/profiles/band one", json={"kind": "artist", "ids": [ids["beat"]]}
    ).raise_for_status()
    assert replaced.json()["ids"] == [ids["beat"]]
    assert "band one" in [p["name"] for p in http.get("/profiles", params={"kind": "artist"}).json()]
    assert "band one" not in [p["name"] for p in http.get("/profiles", params={"kind": "curator"}).json()]
    assert http.delete("/profiles/band one").status_code == 204
    assert http.get("/profiles/band one").status_code == 404
    assert http.delete("/profiles/band one").status_code == 404
    assert http.get("/profiles/band one/matches").status_code == 404

    unknown = http.put("/profiles/x", json={"kind": "artist", "ids": ["0" * 32]})
    assert unknown.status_code == 404 and "no stored result" in unknown.json()["detail"]
    assert http.put("/profiles/x", json={"kind": "artist", "ids": []}).status_code == 422
    assert http.put("/profiles/x", json={"kind": "label", "ids": [ids["beat"]]}).status_code == 422
    other = upload(http, songs["beat"], model=OTHER_MODEL).raise_for_status().json()["id"]
    mixed = http.put("/profiles/x", json={"kind": "artist", "ids": [ids["beat"], other]})
    assert mixed.status_code == 409 and "one model version" in mixed.json()["detail"]


def test_profile_matching_and_profile_similar(http: httpx.Client, ids: dict[str, str]) -> None:
    for style in STYLES:
        http.put(
            f"/profiles/curator-{style}", json={"kind": "curator", "ids": [ids[f"{style}-2"]]}
        ).raise_for_status()
    http.put("/profiles/artist-arp", json={"kind": "artist", "ids": [ids["arpeggio"]]}).raise_for_status()
    for aggregation in ("mean", "softmax"):
        matches = http.get(
            "/profiles/artist-arp/matches",
            params={"kind": "curator", "by": "embedding", "aggregation": aggregation},
        ).raise_for_status()
        assert matches.json()["matches"][0]["name"] == "curator-arpeggio"
    majority = http.get("/profiles/artist-arp/matches", params={"aggregation": "majority"}).raise_for_status()
    assert {m["name"] for m in majority.json()["matches"]} == {f"curator-{style}" for style in STYLES}
    assert all(-1.0 <= m["score"] <= 1.0 + 1e-9 for m in majority.json()["matches"])

    near = http.get("/profiles/artist-arp/similar", params={"k": 1}).raise_for_status().json()
    assert near["query"] is None and near["results"][0]["id"] == ids["arpeggio-2"]


@pytest.mark.slow
def test_index_survives_restarts_and_finds_results_written_meanwhile(
    models_dir: Path, songs: dict[str, Path], tmp_path: Path
) -> None:
    settings = server_settings(models_dir, tmp_path / "tagger.db")
    first = ServerProcess(settings, tmp_path / "first.log").start()
    try:
        with httpx.Client(base_url=first.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
            drone = upload(client, songs["drone"]).raise_for_status().json()["id"]
            upload(client, songs["beat"]).raise_for_status()
    finally:
        first.kill()

    second = ServerProcess(settings, tmp_path / "second.log").start()
    try:
        with httpx.Client(base_url=second.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
            assert len(client.get(f"/similar/{drone}").json()["results"]) == 1  # rebuilt from the store

            # Searches run continuously while the batch CLI (another process) and POST /tag store results.
            stop, failures = threading.Event(), []

            def search_meanwhile() -> None:
                with httpx.Client(base_url=second.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as c:
                    while not stop.is_set():
                        if c.get(f"/similar/{drone}", params={"k": 20}).status_code != 200:
                            failures.append("search failed")

            searching = threading.Thread(target=search_meanwhile)
            searching.start()
            try:
                batch = subprocess.run(
                    [
                        sys.executable, "-m", "batch", "tag", str(songs["drone-shifted"]),
                        str(songs["bells"]), "--models-dir", str(models_dir),
                        "--db", str(settings["TAGGER_DB"]), "--model", DEFAULT_MODEL,
                    ],
                    cwd=REPO, env=second.env, capture_output=True, text=True,
                )  # fmt: skip
                assert batch.returncode == 0, batch.stderr
                arpeggio = upload(client, songs["arpeggio"]).raise_for_status().json()["id"]
            finally:
                stop.set()
                searching.join()
            assert not failures
            found = [
                item["id"] for item in client.get(f"/similar/{drone}", params={"k": 20}).json()["results"]
            ]
            assert len(found) == 4 and arpeggio in found
            searched = client.post("/search", json={"weights": {"rock": 1}, "k": 20}).json()["results"]
            assert len(searched) == 5
            assert found[0] == upload(client, songs["drone-shifted"]).json()["id"]  # stored by the batch CLI

            exported = tmp_path / "nn.jsonl"
            neighbours = subprocess.run(
                [sys.executable, "-m", "batch", "neighbours", "--db", settings["TAGGER_DB"], "--k", "2",
                 "--output", str(exported)],
                cwd=REPO, env=second.env, capture_output=True, text=True,
            )  # fmt: skip
            assert neighbours.returncode == 0, neighbours.stderr
            rows = {row["id"]: row for row in map(json.loads, exported.read_text().splitlines())}
            assert len(rows) == 5 and rows[drone]["neighbours"][0]["id"] == found[0]
            assert [n["id"] for n in rows[drone]["neighbours"]] == found[:2]
    finally:
        second.stop()

    # The graceful stop saved the index; a result stored while no server runs is added to the snapshot.
    assert (Path(settings["TAGGER_DB"]).with_suffix(".index") / "index.json").is_file()
    offline = subprocess.run(
        [sys.executable, "-m", "batch", "tag", str(songs["beat-2"]), "--models-dir", str(models_dir),
         "--db", settings["TAGGER_DB"], "--model", DEFAULT_MODEL],
        cwd=REPO, env=second.env, capture_output=True, text=True,
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    third = ServerProcess(settings, tmp_path / "third.log").start()
    try:
        with httpx.Client(base_url=third.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
            after = [
                item["id"] for item in client.get(f"/similar/{drone}", params={"k": 20}).json()["results"]
            ]
            added = upload(client, songs["beat-2"]).json()["id"]  # answered from the store
            assert added in after and [result_id for result_id in after if result_id != added] == found
    finally:
        third.stop()
