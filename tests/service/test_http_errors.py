"""Every refusal is a JSON `detail` with the right status, over real HTTP; none is a 500."""

from __future__ import annotations

import os
import socket
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.audio_files import make_audio
from support.server_process import ServerProcess
from support.service_helpers import API_KEY, MAX_DURATION_S, MAX_UPLOAD_MB, metric, upload

UNKNOWN_ID = "0123456789abcdef" * 2


def assert_error(response: httpx.Response, status: int, phrase: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert phrase in (detail if isinstance(detail, str) else str(detail)), detail


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("errors") / "song.wav", seconds=1.3)


@pytest.fixture
def anonymous(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        yield http


@pytest.mark.parametrize(
    "request_args",
    [
        ("GET", "/models"),
        ("GET", "/metrics"),
        ("GET", f"/tags/{UNKNOWN_ID}"),
        ("GET", f"/taggram/{UNKNOWN_ID}"),
    ],
)
def test_key_is_required_when_configured(anonymous: httpx.Client, request_args: tuple[str, str]) -> None:
    response = anonymous.request(*request_args)
    assert_error(response, 401, "missing or wrong API key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert anonymous.request(*request_args, headers={"X-API-Key": API_KEY + "x"}).status_code == 401


def test_upload_without_key_is_refused_before_it_is_read(anonymous: httpx.Client, song: Path) -> None:
    assert_error(upload(anonymous, song), 401, "missing or wrong API key")


def test_bearer_token_and_api_key_header_are_both_accepted(anonymous: httpx.Client) -> None:
    assert anonymous.get("/models", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
    assert anonymous.get("/models", headers={"X-API-Key": API_KEY}).status_code == 200
    assert anonymous.get("/models", headers={"Authorization": f"Basic {API_KEY}"}).status_code == 401


def test_probes_stay_open(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_not_audio_is_415(client: httpx.Client, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("these are not the samples you are looking for\n" * 50)
    assert_error(upload(client, text), 415, "not a supported audio file")


def test_body_that_is_not_multipart_is_415(client: httpx.Client) -> None:
    assert_error(client.post("/tag", json={"file": "song.mp3"}), 415, "multipart/form-data")


def test_declared_oversized_body_is_413_without_reading_it(client: httpx.Client, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(int(MAX_UPLOAD_MB * 2**20) + 200_000))
    assert_error(upload(client, big), 413, f"larger than the {MAX_UPLOAD_MB:g} MB limit")


def test_streamed_oversized_body_is_413_while_it_arrives(client: httpx.Client) -> None:
    """No Content-Length (chunked transfer): the limit is counted as the bytes arrive."""
    boundary = "streamedboundary"

    def body() -> Iterator[bytes]:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'.encode()
        piece = os.urandom(64 * 1024)
        for _ in range(int(MAX_UPLOAD_MB * 16) + 8):  # half a megabyte more than allowed
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/tag", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, f"larger than the {MAX_UPLOAD_MB:g} MB limit")


def test_an_upload_abandoned_halfway_is_no_server_error(server: ServerProcess, client: httpx.Client) -> None:
    aborted_before = metric(client, "tagger_http_requests_total", method="POST", route="/tag", status="400")
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            b"POST /tag HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"X-API-Key: {API_KEY}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: 100000\r\n\r\n"
            + b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF'
        )
    deadline = time.monotonic() + 10
    while (
        metric(client, "tagger_http_requests_total", method="POST", route="/tag", status="400")
        == aborted_before
    ):
        assert time.monotonic() < deadline, "the aborted upload was never accounted for"
        time.sleep(0.1)
    assert metric(client, "tagger_http_requests_total", method="POST", route="/tag", status="500") == 0
    assert client.get("/healthz").status_code == 200


def test_audio_longer_than_the_limit_is_413(client: httpx.Client, tmp_path: Path) -> None:
    long_song = make_audio(tmp_path / "long.wav", seconds=MAX_DURATION_S + 5, sample_rate=8_000)
    assert long_song.stat().st_size < MAX_UPLOAD_MB * 2**20
    assert_error(upload(client, long_song), 413, f"the limit is {MAX_DURATION_S:g} s")


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({"top_k": 0}, "greater than or equal to 1"),
        ({"hop": 1.5}, "hop must be between"),
        ({"hop": -1}, "greater than 0"),
        ({"hop": "fast"}, "valid number"),
    ],
)
def test_bad_parameters_are_422(
    client: httpx.Client, song: Path, params: dict[str, str | float], phrase: str
) -> None:
    assert_error(upload(client, song, **params), 422, phrase)


def test_missing_file_field_is_422(client: httpx.Client, song: Path) -> None:
    response = client.post("/tag", files={"audio": (song.name, song.read_bytes())})
    assert_error(response, 422, "no complete `file` field")


def test_empty_file_is_422(client: httpx.Client) -> None:
    assert_error(client.post("/tag", files={"file": ("empty.wav", b"")}), 422, "`file` field is empty")


def test_silent_but_too_short_audio_is_422(client: httpx.Client, tmp_path: Path) -> None:
    blip = make_audio(tmp_path / "blip.wav", seconds=0.1)
    assert_error(upload(client, blip), 422, "at least 0.3 s is needed")


def test_wav_without_samples_is_422(client: httpx.Client, tmp_path: Path) -> None:
    header_only = tmp_path / "nothing.wav"
    with wave.open(str(header_only), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
    assert_error(upload(client, header_only), 422, "no audio samples")


def test_unknown_model_is_404(client: httpx.Client, song: Path) -> None:
    assert_error(upload(client, song, model="MSD_nope"), 404, "no model named 'MSD_nope'")


@pytest.mark.parametrize(
    "path", [f"/tags/{UNKNOWN_ID}", f"/taggram/{UNKNOWN_ID}", f"/taggram/{UNKNOWN_ID}?format=png"]
)
def test_unknown_result_is_404(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404, f"no result with id '{UNKNOWN_ID}'")


@pytest.mark.parametrize("result_id", ["ABC", "0" * 33, "..%2E%2E"])
def test_malformed_result_id_is_422(client: httpx.Client, result_id: str) -> None:
    assert_error(client.get(f"/tags/{result_id}"), 422, "should match pattern")


def test_path_like_result_id_matches_no_route(client: httpx.Client) -> None:
    assert_error(client.get("/taggram/..%2F..%2Fetc%2Fpasswd"), 404, "Not Found")


def test_unknown_png_format_is_422(client: httpx.Client) -> None:
    assert_error(client.get(f"/taggram/{UNKNOWN_ID}", params={"format": "gif"}), 422, "'json' or 'png'")
