"""`openapi.yaml` at the repository root is exactly what the app generates (`python -m service.openapi`)."""

from __future__ import annotations

from pathlib import Path

import yaml

from service.main import create_app
from service.openapi import openapi_yaml
from tagger.settings import Settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.yaml"


def test_committed_openapi_matches_the_app() -> None:
    assert yaml.safe_load(COMMITTED.read_text()) == create_app(Settings()).openapi(), (
        "openapi.yaml is out of date: run `python -m service.openapi`"
    )
    assert COMMITTED.read_text() == openapi_yaml()


def test_openapi_documents_the_upload_errors_and_auth() -> None:
    post_tag = create_app(Settings()).openapi()["paths"]["/tag"]["post"]
    body = post_tag["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"
    assert {"401", "404", "413", "415", "422", "503"} <= set(post_tag["responses"])
    assert post_tag["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
