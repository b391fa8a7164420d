"""Damaged real-world files over real HTTP: tagged (200), as long as the ffmpeg CLI decodes them, and
with what was skipped in `decode`; where only the ends are damaged, the clean file's scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from support.damaged_audio import RATE, DamagedFile, ffmpeg_decoded_samples
from support.reliability_helpers import api_client, server_errors
from support.server_process import ServerProcess
from support.service_helpers import DEFAULT_MODEL, metric, upload

DAMAGED = "tagger_damaged_audio_total"
SCORE_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def http(guarded_server: ServerProcess) -> Iterator[httpx.Client]:
    with api_client(guarded_server) as client:
        yield client


@pytest.fixture(scope="module")
def clean_answers(http: httpx.Client, damaged_corpus: dict[str, DamagedFile]) -> dict[Path, dict]:
    """POST /tag of each clean file the corpus was made from."""
    answers = {}
    for clean in sorted({file.clean for file in damaged_corpus.values()}):
        response = upload(http, clean)
        assert response.status_code == 200, response.text
        answers[clean] = response.json()
    return answers


@pytest.mark.slow  # 44 uploads of 12 s songs and as many ffmpeg decodes: about a minute on 2 cores
def test_damaged_files_are_tagged(
    http: httpx.Client, damaged_corpus: dict[str, DamagedFile], clean_answers: dict[Path, dict]
) -> None:
    """Every case in one test: the metric must count exactly the damaged ones."""
    counted_before = metric(http, DAMAGED, model=DEFAULT_MODEL)
    for case, file in sorted(damaged_corpus.items()):
        response = upload(http, file.path)
        assert response.status_code == 200, f"{case}: {response.text}"
        body = response.json()
        expected = ffmpeg_decoded_samples(file.path) / RATE
        assert abs(body["duration"] - expected) <= max(0.03 * expected, 0.5), (
            case,
            body["duration"],
            expected,
        )
        assert (body["decode"] is not None) == file.reported, (case, body["decode"])
        if file.reported:
            assert body["decode"]["warning"].startswith("damaged audio"), body["decode"]
            stored = http.get(f"/tags/{body['id']}").raise_for_status().json()
            assert stored["decode"] == body["decode"], "the report is stored with the result"
        if file.ends_only:
            clean = clean_answers[file.clean]
            difference = np.abs(np.array(body["scores"]) - np.array(clean["scores"])).max()
            assert difference <= SCORE_TOLERANCE, (case, difference)
    reported = sum(file.reported for file in damaged_corpus.values())
    assert metric(http, DAMAGED, model=DEFAULT_MODEL) - counted_before == reported
    assert all(answer["decode"] is None for answer in clean_answers.values())
    assert server_errors(http) == 0
