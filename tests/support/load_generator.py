"""Concurrent clients for the soak and crash tests: many threads POSTing songs to a real server.

Each upload is either a *fresh* WAV (a base song with its own `JUNK` chunk: new bytes and id, same
samples, so the model really runs) or a *repeat* of a compressed file (answered from the store).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from support.audio_files import make_audio
from support.service_helpers import API_KEY

WAV_SONGS = {"a": (1.6, 16_000), "b": (2.3, 22_050), "c": (3.7, 44_100), "d": (5.0, 48_000)}
CODEC_SONGS = ("flac", "ogg", "mp3", "m4a")
REPEAT_EVERY = 4  # one upload in four repeats a compressed file


@dataclass(frozen=True)
class Upload:
    song: str  # which base song the audio is, for comparing scores
    filename: str
    content: bytes


@dataclass(frozen=True)
class Answer:
    upload: Upload
    status: int | None  # None: no HTTP answer (connection failed)
    body: dict[str, Any] | None
    error: str | None = None


def base_songs(directory: Path) -> dict[str, Upload]:
    """The songs every upload is made of: four WAVs at different rates and four compressed files."""
    directory.mkdir(parents=True, exist_ok=True)
    songs = {
        name: Upload(
            name, f"{name}.wav", make_audio(directory / f"{name}.wav", seconds=s, sample_rate=r).read_bytes()
        )
        for name, (s, r) in WAV_SONGS.items()
    }
    for extension in CODEC_SONGS:
        path = make_audio(directory / f"song.{extension}", seconds=2.6)
        songs[extension] = Upload(extension, path.name, path.read_bytes())
    return songs


def with_junk_chunk(wav: bytes, number: int) -> bytes:
    """The same WAV with a `JUNK` chunk carrying `number` after the RIFF header: new bytes, same samples."""
    junk = b"JUNK" + struct.pack("<I", 8) + struct.pack("<Q", number)
    body = wav[12:]
    return b"RIFF" + struct.pack("<I", 4 + len(junk) + len(body)) + b"WAVE" + junk + body


def upload_for(songs: dict[str, Upload], number: int) -> Upload:
    """The `number`-th upload of a load run."""
    if number % REPEAT_EVERY == REPEAT_EVERY - 1:
        return songs[CODEC_SONGS[number // REPEAT_EVERY % len(CODEC_SONGS)]]
    base = songs[sorted(WAV_SONGS)[number % len(WAV_SONGS)]]
    return Upload(base.song, f"{base.song}-{number}.wav", with_junk_chunk(base.content, number))


def tag(http: httpx.Client, upload: Upload) -> Answer:
    try:
        response = http.post("/tag", files={"file": (upload.filename, upload.content)})
    except httpx.TransportError as error:
        return Answer(upload, None, None, f"{type(error).__name__}: {error}")
    body = response.json() if response.headers.get("content-type") == "application/json" else None
    return Answer(upload, response.status_code, body)


def run_clients(
    base_url: str,
    songs: dict[str, Upload],
    *,
    clients: int,
    keep_going: Callable[[], bool],
    on_answer: Callable[[Answer], None] = lambda answer: None,
) -> list[Answer]:
    """`clients` threads upload until `keep_going()` is false or their connection fails; all answers."""
    numbers = count()
    answers: list[Answer] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=120) as http:
            while keep_going():
                with lock:
                    number = next(numbers)
                answer = tag(http, upload_for(songs, number))
                with lock:
                    answers.append(answer)
                on_answer(answer)
                if answer.status is None:
                    return

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers
