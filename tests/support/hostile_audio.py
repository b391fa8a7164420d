"""The hostile upload corpus: files no client should send, generated on the spot (ffmpeg, or bytes by hand).

`hostile_files(directory)` returns {case name: (file name, bytes)}; the expected answer for each case
lives with the test that sends them.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from support.audio_files import make_audio
from support.flac_bomb import flac_bomb

SONG_SECONDS = 3.0
TRUNCATED_FORMATS = ("wav", "flac", "ogg", "mp3", "m4a")
PCM, IEEE_FLOAT = 1, 3


def wav_bytes(
    data: bytes,
    *,
    channels: int = 1,
    sample_rate: int = 16_000,
    bits: int = 16,
    format_tag: int = PCM,
    declared_data_size: int | None = None,
) -> bytes:
    """A RIFF/WAVE file whose header says whatever it is told, around `data`."""
    block_align = channels * bits // 8
    # Header fields wrap at their width, as they would in a file written by a careless encoder.
    fmt = struct.pack(
        "<HHIIHH",
        format_tag,
        channels,
        sample_rate,
        (sample_rate * block_align) & 0xFFFFFFFF,
        block_align & 0xFFFF,
        bits,
    )
    size = len(data) if declared_data_size is None else declared_data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", min(len(body), 0xFFFFFFFF)) + body


def _tone(seconds: float, sample_rate: int) -> bytes:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (np.sin(2 * np.pi * 440 * t) * 0.3 * 32767).astype("<i2").tobytes()


def _float_wav(special: float) -> bytes:
    samples = np.sin(np.arange(16_000, dtype=np.float32) / 10) * 0.3
    samples[8_000] = special
    return wav_bytes(samples.astype("<f4").tobytes(), bits=32, format_tag=IEEE_FLOAT)


def _ffmpeg_file(directory: Path, name: str, **options: object) -> bytes:
    return make_audio(directory / name, **options).read_bytes()  # type: ignore[arg-type]


def hostile_files(directory: Path) -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(20_240_601)
    tone = _tone(1.0, 16_000)
    files: dict[str, tuple[str, bytes]] = {
        "zero_bytes": ("empty.wav", b""),
        "random_bytes": ("noise.mp3", rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()),
        "text": ("notes.wav", b"just some text, not audio\n" * 400),
        "html": ("page.mp3", b"<!doctype html><html><body>" + b"<p>hello</p>" * 500 + b"</body></html>"),
        "json": ("data.flac", json.dumps({"tags": ["rock"] * 2_000}).encode()),
        "wav_header_only": ("header.wav", wav_bytes(b"")[:44]),
        "wav_data_size_4gb": ("liar.wav", wav_bytes(tone, declared_data_size=0xFFFFFFF0)),
        "wav_rate_zero": ("rate0.wav", wav_bytes(tone, sample_rate=0)),
        "wav_rate_4ghz": ("rate4g.wav", wav_bytes(tone, sample_rate=0xFFFFFFFF)),
        "wav_rate_100hz": ("rate100.wav", wav_bytes(tone, sample_rate=100)),
        "wav_zero_channels": ("mute.wav", wav_bytes(tone, channels=0)),
        "wav_65535_channels": ("crowd.wav", wav_bytes(tone * 40, channels=65_535)),
        "wav_zero_bits": ("bits0.wav", wav_bytes(tone, bits=0)),
        "wav_nan": ("nan.wav", _float_wav(float("nan"))),
        "wav_inf": ("inf.wav", _float_wav(float("inf"))),
        "flac_rate_655khz": ("fast.flac", flac_bomb(hours=0.001, sample_rate=655_350, declare_length=True)),
        "blip_50ms": ("blip.wav", _ffmpeg_file(directory, "blip.wav", seconds=0.05)),
        "silence": (
            "silence.flac",
            _ffmpeg_file(directory, "silence.flac", seconds=SONG_SECONDS, source="silence"),
        ),
        "surround_96khz_24bit": (
            "surround.wav",
            _ffmpeg_file(
                directory,
                "surround.wav",
                seconds=2.0,
                sample_rate=96_000,
                channels=8,
                codec=["-c:a", "pcm_s24le"],
            ),
        ),
        "too_long": ("long.wav", _ffmpeg_file(directory, "long.wav", seconds=45.0, sample_rate=8_000)),
        "bomb_declared": ("bomb.flac", flac_bomb(hours=10, declare_length=True)),
        "bomb_undeclared": ("bomb.flac", flac_bomb(hours=10, declare_length=False)),
    }
    for extension in TRUNCATED_FORMATS:
        song = _ffmpeg_file(directory, f"song.{extension}", seconds=SONG_SECONDS)
        for label, cut in (("16b", 16), ("1k", 1024), ("half", len(song) // 2), ("last_byte", len(song) - 1)):
            files[f"truncated_{extension}_{label}"] = (f"cut.{extension}", song[:cut])
    return files
