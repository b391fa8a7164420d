"""A result answered 200 survives `kill -9` and is served after restart without running the model."""

from __future__ import annotations

from pathlib import Path

import httpx

from support.audio_files import make_audio
from support.server_process import ServerProcess
from support.service_helpers import API_KEY, DEFAULT_MODEL, metric, server_settings, upload


def test_results_survive_kill_9_and_restart(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path / "results" / "tagger.db")
    song = make_audio(tmp_path / "kept.mp3", seconds=2.6)

    first = ServerProcess(settings, tmp_path / "first.log").start()
    try:
        with httpx.Client(base_url=first.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as http:
            answered = upload(http, song, top_k=4).json()
            taggram = http.get(answered["taggram_url"]).json()
    finally:
        first.kill()

    second = ServerProcess(settings, tmp_path / "second.log").start()
    try:
        with httpx.Client(base_url=second.base_url, headers={"X-API-Key": API_KEY}, timeout=60) as http:
            assert http.get(f"/tags/{answered['id']}", params={"top_k": 4}).json() == answered
            assert http.get(answered["taggram_url"]).json() == taggram
            assert upload(http, song, top_k=4).json() == answered
            assert metric(http, "tagger_windows_inferred_total", model=DEFAULT_MODEL) == 0
            assert metric(http, "tagger_results_total", model=DEFAULT_MODEL, source="store") == 1
    finally:
        second.stop()
