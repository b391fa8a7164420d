"""Start-up and readiness, in process with TestClient (the lifespan runs as under uvicorn)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.main import create_app
from support.service_helpers import DEFAULT_MODEL, OTHER_MODEL
from tagger.errors import ModelNotFoundError
from tagger.settings import Settings


def app_for(models_dir: Path, db: Path, default_model: str) -> FastAPI:
    return create_app(Settings(models_dir=models_dir, default_model=default_model, db=db, api_key=None))


def settled_readiness(http: TestClient) -> httpx.Response:
    deadline = time.monotonic() + 60
    while (ready := http.get("/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.1)
    return ready


def test_startup_fails_clearly_when_the_default_model_is_missing(models_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(
        ModelNotFoundError, match=r"default model 'MSD_musicnn' not found .*TAGGER_DEFAULT_MODEL"
    ):
        with TestClient(app_for(models_dir, tmp_path / "tagger.db", "MSD_musicnn")):
            pass


def test_startup_fails_clearly_when_the_models_directory_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        with TestClient(app_for(tmp_path / "nowhere", tmp_path / "tagger.db", DEFAULT_MODEL)):
            pass


def test_a_default_model_that_fails_to_load_keeps_the_service_unready(
    models_dir: Path, tmp_path: Path
) -> None:
    broken_dir = tmp_path / "models"
    shutil.copytree(models_dir / DEFAULT_MODEL, broken_dir / DEFAULT_MODEL)
    (broken_dir / DEFAULT_MODEL / "1" / "saved_model.pb").write_bytes(b"not a graph")

    with TestClient(app_for(broken_dir, tmp_path / "tagger.db", DEFAULT_MODEL)) as http:
        ready = settled_readiness(http)
        assert ready.status_code == 503
        assert ready.json()["status"] == "failed" and ready.json()["models"] == {DEFAULT_MODEL: 1}
        assert DEFAULT_MODEL in ready.json()["failed"]
        assert http.get("/healthz").status_code == 200
        refused = http.post("/tag", files={"file": ("a.wav", b"RIFF....")})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert refused.json()["detail"] == ready.json()["detail"]
        (listed,) = http.get("/models").json()
        assert listed["name"] == DEFAULT_MODEL and listed["status"] == "failed"
        assert "saved_model.pb" in listed["error"] or "graph" in listed["error"].lower()


def test_an_unreadable_model_is_reported_and_skipped_while_the_others_serve(
    models_dir: Path, tmp_path: Path
) -> None:
    """A model folder the server cannot read (a bad metadata file here) never takes the others down."""
    mixed_dir = tmp_path / "models"
    shutil.copytree(models_dir / DEFAULT_MODEL, mixed_dir / DEFAULT_MODEL)
    shutil.copytree(models_dir / OTHER_MODEL, mixed_dir / OTHER_MODEL)
    (mixed_dir / OTHER_MODEL / "1" / "assets.extra" / "tagger.json").write_text("{not json")

    with TestClient(app_for(mixed_dir, tmp_path / "tagger.db", DEFAULT_MODEL)) as http:
        ready = settled_readiness(http)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.json()["models"] == {DEFAULT_MODEL: 1}
        assert "cannot read" in ready.json()["failed"][OTHER_MODEL]
        listed = {model["name"]: model for model in http.get("/models").json()}
        assert listed[DEFAULT_MODEL]["status"] == "ready"
        assert listed[OTHER_MODEL]["status"] == "failed" and "cannot read" in listed[OTHER_MODEL]["error"]
        refused = http.post("/tag", params={"model": OTHER_MODEL}, files={"file": ("a.wav", b"RIFF....")})
        assert refused.status_code == 404
