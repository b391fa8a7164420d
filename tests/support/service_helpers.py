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


def server_settings(models_dir: Path, db: Path | str, **overrides: str) -> dict[str, str]:
    return {
        "TAGGER_MODELS_DIR": str(models_dir),
        "TAGGER_DEFAULT_MODEL": DEFAULT_MODEL,
        "TAGGER_DB": str(db),
        "TAGGER_API_KEY": API_KEY,
        "TAGGER_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "TAGGER_MAX_DURATION_S": str(MAX_DURATION_S),
        "TAGGER_MIN_DURATION_S": str(MIN_DURATION_S),
        "TAGGER_MAX_BATCH_SIZE": str(MAX_BATCH_SIZE),
        # Long enough that concurrent test requests reliably meet in one batch.
        "TAGGER_MAX_WAIT_MS": "150",
        "TAGGER_TF_INTRA_OP_THREADS": "1",
        "TAGGER_DECODE_WORKERS": "2",
        **overrides,
    }


def upload(http: httpx.Client, path: Path, **params: str | float) -> httpx.Response:
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
