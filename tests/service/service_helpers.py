"""Constants shared by the service tests and small helpers for talking to a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

API_KEY = "test-key-5f1c"
DEFAULT_MODEL = "tiny"  # 16 kHz, 1 s windows
OTHER_MODEL = "tiny_fast"  # 8 kHz, 0.5 s windows
MAX_DURATION_S = 20.0
MIN_DURATION_S = 0.3
MAX_UPLOAD_MB = 1.0
MAX_BATCH_SIZE = 16


def upload(http: httpx.Client, path: Path, **params: object) -> httpx.Response:
    with path.open("rb") as file:
        return http.post("/tag", params=params, files={"file": (path.name, file)})


def metric(http: httpx.Client, name: str, **labels: str) -> float:
    """Current value of one Prometheus sample from /metrics (0 when it has not been emitted yet)."""
    text = http.get("/metrics").raise_for_status().text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
