"""Hostile uploads over real HTTP: each gets its defined status and `detail`, never a 5xx, in bounded memory.

Every case runs against the shared guarded server (20 s duration cap, 8 MB upload cap); after each,
the process is alive and /healthz answers, and at the end a normal song is still tagged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from support.audio_files import make_audio
from support.hostile_audio import hostile_files
from support.reliability_helpers import (
    KIB_PER_MIB,
    api_client,
    memory_kib,
    reset_peak_memory,
    server_errors,
)
from support.server_process import ServerProcess
from support.service_helpers import MAX_DURATION_S

# Peak resident memory a single hostile request may add to the server (decoding is capped at 20 s of audio).
PEAK_GROWTH_MIB = 32
# A decompression bomb must be refused about as fast as a normal file, not after decoding hours.
BOMB_SECONDS = 10.0

LIMIT = f"{MAX_DURATION_S:g} s"
NOT_AUDIO = (415, "not a supported audio file")
CORRUPT = (415, "corrupt audio data")
TOO_SHORT = (422, "at least 0.3 s is needed")
TAGGED = (200, "")

EXPECTED: dict[str, tuple[int, str]] = {
    "zero_bytes": (422, "`file` field is empty"),
    "random_bytes": NOT_AUDIO,
    "text": NOT_AUDIO,
    "html": NOT_AUDIO,
    "json": NOT_AUDIO,
    "wav_header_only": (422, "contains no audio samples"),
    "wav_data_size_4gb": TAGGED,  # decodes the second that is really there
    "wav_rate_zero": NOT_AUDIO,
    "wav_rate_4ghz": NOT_AUDIO,
    "wav_rate_100hz": (415, "sample rate 100 Hz is outside 8000-192000 Hz"),
    "wav_zero_channels": CORRUPT,
    "wav_65535_channels": CORRUPT,
    "wav_zero_bits": (415, "audio codec is not supported"),
    "wav_nan": (422, "NaN or infinite"),
    "wav_inf": (422, "NaN or infinite"),
    "flac_rate_655khz": (415, "sample rate 655350 Hz is outside"),
    "blip_50ms": TOO_SHORT,
    "silence": TAGGED,
    "surround_96khz_24bit": TAGGED,
    "too_long": (413, f"the limit is {LIMIT}"),
    "bomb_declared": (413, f"the limit is {LIMIT}"),  # the header tells: refused before decoding
    "bomb_undeclared": (413, f"longer than the {LIMIT} limit"),  # no length in the header: the decode cap
    "truncated_wav_16b": NOT_AUDIO,
    "truncated_wav_1k": TOO_SHORT,
    "truncated_wav_half": TAGGED,
    "truncated_wav_last_byte": TAGGED,
    "truncated_flac_16b": NOT_AUDIO,
    "truncated_flac_1k": NOT_AUDIO,
    "truncated_flac_half": TAGGED,  # the frames before the cut decode, as with the ffmpeg CLI (issue 13)
    "truncated_flac_last_byte": TAGGED,
    "truncated_ogg_16b": NOT_AUDIO,
    "truncated_ogg_1k": NOT_AUDIO,
    "truncated_ogg_half": TAGGED,
    "truncated_ogg_last_byte": TAGGED,
    "truncated_mp3_16b": NOT_AUDIO,
    "truncated_mp3_1k": TOO_SHORT,
    "truncated_mp3_half": TAGGED,
    "truncated_mp3_last_byte": TAGGED,
    "truncated_m4a_16b": NOT_AUDIO,
    "truncated_m4a_1k": NOT_AUDIO,
    "truncated_m4a_half": NOT_AUDIO,  # the index (moov) is at the end of the file
    "truncated_m4a_last_byte": TAGGED,
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, bytes]]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_audio(tmp_path_factory.mktemp("song") / "song.wav", seconds=2.0).read_bytes()


@pytest.fixture(scope="module")
def http(guarded_server: ServerProcess) -> Iterator[httpx.Client]:
    with api_client(guarded_server) as client:
        yield client


def assert_answer(response: httpx.Response, status: int, phrase: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:
        scores = np.array(body["scores"])
        assert body["n_windows"] >= 1 and body["duration"] > 0
        assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    else:
        assert isinstance(body["detail"], str) and phrase in body["detail"], body


def send_and_watch(server: ServerProcess, http: httpx.Client, **request: Any) -> tuple[httpx.Response, float]:
    """POST /tag; returns the response and the server's peak memory growth during it, in MiB."""
    before = memory_kib(server)
    reset_peak_memory(server)
    response = http.post("/tag", **request)
    growth = (memory_kib(server, "VmHWM") - before) / KIB_PER_MIB
    assert server.process is not None and server.process.poll() is None, "the server died"
    assert http.get("/healthz").status_code == 200
    assert not any(Path(server.env["TAGGER_UPLOAD_DIR"]).iterdir()), "an upload's temporary file is left"
    return response, growth


def test_the_corpus_is_what_the_table_expects(corpus: dict[str, tuple[str, bytes]]) -> None:
    assert sorted(corpus) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_file(
    guarded_server: ServerProcess, http: httpx.Client, corpus: dict[str, tuple[str, bytes]], case: str
) -> None:
    filename, content = corpus[case]
    started = time.monotonic()
    response, growth = send_and_watch(guarded_server, http, files={"file": (filename, content)})
    elapsed = time.monotonic() - started
    assert_answer(response, *EXPECTED[case])
    assert growth < PEAK_GROWTH_MIB, f"{case}: peak memory grew by {growth:.0f} MiB"
    if case.startswith("bomb"):
        assert elapsed < BOMB_SECONDS, f"{case}: answered after {elapsed:.1f} s"


def _multipart(boundary: str, part_headers: str, content: bytes) -> bytes:
    return f"--{boundary}\r\n{part_headers}\r\n\r\n".encode() + content + f"\r\n--{boundary}--\r\n".encode()


REQUESTS: dict[str, tuple[Callable[[bytes], dict[str, Any]], int, str]] = {
    "raw_audio_body": (
        lambda song: {"content": song, "headers": {"Content-Type": "audio/wav"}},
        415,
        "multipart/form-data",
    ),
    "multipart_without_boundary": (
        lambda song: {"content": song, "headers": {"Content-Type": "multipart/form-data"}},
        422,
        "has no boundary",
    ),
    "missing_file_field": (
        lambda song: {"files": {"audio": ("a.wav", song)}},
        422,
        "no complete `file` field",
    ),
    "part_type_says_png": (lambda song: {"files": {"file": ("a.png", song, "image/png")}}, *TAGGED),
    "huge_part_headers": (
        lambda song: {
            "content": _multipart(
                "b0undary",
                'Content-Disposition: form-data; name="file"; filename="a.wav"\r\nX-Padding: '
                + "x" * 200_000,
                song,
            ),
            "headers": {"Content-Type": "multipart/form-data; boundary=b0undary"},
        },
        422,
        "Maximum header size exceeded",  # python-multipart's own limit: 4 KB per part header
    ),
}


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_hostile_request(guarded_server: ServerProcess, http: httpx.Client, song: bytes, case: str) -> None:
    build, status, phrase = REQUESTS[case]
    response, growth = send_and_watch(guarded_server, http, **build(song))
    assert_answer(response, status, phrase)
    assert growth < PEAK_GROWTH_MIB, f"{case}: peak memory grew by {growth:.0f} MiB"


def test_huge_http_headers_are_refused_by_the_server(
    guarded_server: ServerProcess, http: httpx.Client
) -> None:
    """uvicorn's HTTP parser (h11) refuses them before the app, in plain text.

    h11 refuses a header block still incomplete after 16 KB; one that arrives whole in a single read
    (up to 256 KB on loopback) is parsed, so 1 MB makes the refusal certain.
    """
    response = http.post("/tag", headers={"X-Padding": "x" * 2**20}, files={"file": ("a.wav", b"RIFF")})
    assert response.status_code == 400 and response.text == "Invalid HTTP request received.", response.text
    assert http.get("/healthz").status_code == 200


def test_a_normal_song_is_tagged_after_all_that(http: httpx.Client, tmp_path: Path) -> None:
    after = make_audio(tmp_path / "after.ogg", seconds=2.5)
    assert_answer(http.post("/tag", files={"file": (after.name, after.read_bytes())}), *TAGGED)
    assert server_errors(http) == 0
