"""Similarity with the real MSD_musicnn over real HTTP, on real recordings (asc-music) and synthetic styles.

The catalogue: two 10 s excerpts of each asc-music track (at 20 s and 120 s), two songs of each
synthetic style, and two near-copies of one excerpt (re-encoded to OGG, pitch-shifted by 30 cents).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.debian_music import debian_music
from support.server_process import REPO, ServerProcess
from support.service_helpers import API_KEY, server_settings, upload
from support.styled_audio import STYLES, make_styled_song, pitch_shift, reencode

pytestmark = pytest.mark.slow
MODEL = "MSD_musicnn"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    directory = tmp_path_factory.mktemp("real-similar")
    models = directory / "models"
    models.mkdir()
    (models / MODEL).symlink_to(REPO / "saved_models" / MODEL)
    settings = server_settings(models, directory / "tagger.db", TAGGER_DEFAULT_MODEL=MODEL)
    server = ServerProcess(settings, directory / "server.log").start(timeout=300)
    try:
        with httpx.Client(base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=120) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ids(http: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("catalogue")
    songs: dict[str, Path] = {}
    for track in debian_music():
        for start in (20, 120):
            name = f"{track.stem}-{start}"
            songs[name] = reencode(track, folder / f"{name}.mp3", start=start, seconds=10)
    original = songs["frontiers-20"]
    songs["copy-ogg"] = reencode(original, folder / "frontiers-copy.ogg")
    songs["copy-shifted"] = pitch_shift(original, folder / "frontiers-shifted.mp3", cents=30)
    for style in STYLES:
        for variant in (0, 3, 6, 9):
            songs[f"{style}-{variant}"] = make_styled_song(
                folder / f"{style}-{variant}.wav", style, variant=variant
            )
    return {name: upload(http, path).raise_for_status().json()["id"] for name, path in songs.items()}


def test_a_recordings_nearest_tracks_are_its_copies(http: httpx.Client, ids: dict[str, str]) -> None:
    answer = http.get(f"/similar/{ids['frontiers-20']}", params={"k": 100}).raise_for_status().json()
    found = [item["id"] for item in answer["results"]]
    assert answer["model"]["name"] == MODEL
    assert set(found[:2]) == {ids["copy-ogg"], ids["copy-shifted"]}
    assert answer["results"][1]["score"] > answer["results"][2]["score"]


def test_a_synthetic_songs_nearest_track_is_of_its_style(http: httpx.Client, ids: dict[str, str]) -> None:
    for style in STYLES:
        answer = http.get(f"/similar/{ids[f'{style}-0']}", params={"k": 3}).raise_for_status().json()
        same_style = {ids[f"{style}-{variant}"] for variant in (3, 6, 9)}
        assert [item["id"] for item in answer["results"]][0] in same_style, style


def test_profile_matching_ranks_the_same_style_first(http: httpx.Client, ids: dict[str, str]) -> None:
    for style in STYLES:
        curator = {"kind": "curator", "ids": [ids[f"{style}-6"], ids[f"{style}-9"]]}
        http.put(f"/profiles/curator-{style}", json=curator).raise_for_status()
    curator = {"kind": "curator", "ids": [ids["machine_wars-120"], ids["time_to_strike-120"]]}
    http.put("/profiles/curator-orchestral", json=curator).raise_for_status()
    for style in STYLES:
        artist = {"kind": "artist", "ids": [ids[f"{style}-0"], ids[f"{style}-3"]]}
        http.put(f"/profiles/artist-{style}", json=artist).raise_for_status()
        for by in ("embedding", "tags"):
            matches = http.get(
                f"/profiles/artist-{style}/matches", params={"kind": "curator", "by": by}
            ).raise_for_status()
            assert matches.json()["matches"][0]["name"] == f"curator-{style}", (style, by)
