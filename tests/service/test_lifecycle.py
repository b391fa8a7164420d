"""Start-up and readiness, in process with TestClient (the lifespan runs as under uvicorn)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import DEFAULT_MODEL

from service.main import create_app


def use_models(monkeypatch: pytest.MonkeyPatch, models_dir: Path, db: Path, default_model: str) -> None:
    monkeypatch.setenv("TAGGER_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("TAGGER_DEFAULT_MODEL", default_model)
    monkeypatch.setenv("TAGGER_DB", str(db))
    monkeypatch.delenv("TAGGER_API_KEY", raising=False)


@pytest.mark.usefixtures("clean_settings")
def test_startup_fails_clearly_when_the_default_model_is_missing(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path, tmp_path: Path
) -> None:
    use_models(monkeypatch, models_dir, tmp_path / "tagger.db", "MSD_musicnn")
    with pytest.raises(
        FileNotFoundError, match=r"default model 'MSD_musicnn' not found .*TAGGER_DEFAULT_MODEL"
    ):
        with TestClient(create_app()):
            pass


@pytest.mark.usefixtures("clean_settings")
def test_startup_fails_clearly_when_the_models_directory_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_models(monkeypatch, tmp_path / "nowhere", tmp_path / "tagger.db", DEFAULT_MODEL)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with TestClient(create_app()):
            pass


@pytest.mark.usefixtures("clean_settings")
def test_a_model_that_fails_to_load_keeps_the_service_unready(
    monkeypatch: pytest.MonkeyPatch, models_dir: Path, tmp_path: Path
) -> None:
    broken_dir = tmp_path / "models"
    shutil.copytree(models_dir / DEFAULT_MODEL, broken_dir / DEFAULT_MODEL)
    (broken_dir / DEFAULT_MODEL / "1" / "saved_model.pb").write_bytes(b"not a graph")
    use_models(monkeypatch, broken_dir, tmp_path / "tagger.db", DEFAULT_MODEL)

    with TestClient(create_app()) as http:
        deadline = time.monotonic() + 60
        while (ready := http.get("/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.status_code == 503
        assert ready.json()["status"] == "failed" and ready.json()["models"] == {DEFAULT_MODEL: 1}
        assert http.get("/healthz").status_code == 200
        refused = http.post("/tag", files={"file": ("a.wav", b"RIFF....")})
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert refused.json()["detail"] == ready.json()["detail"]
        assert [m["name"] for m in http.get("/models").json()] == [DEFAULT_MODEL]
