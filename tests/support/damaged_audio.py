"""The damaged-but-decodable corpus: real-world files as a catalogue holds them, made on the spot.

An excerpt of a real recording (Debian's asc-music) is encoded as MP3, OGG, FLAC, WAV and M4A by
ffmpeg, then damaged byte by byte: junk or tags at either end, a 2 MB cover picture, a noise burst
in the middle, a cut in the middle of a frame, WAV with streamed sizes or extra chunks. The ffmpeg
CLI decodes every one of them (`ffmpeg_decoded_samples` is the oracle the tests compare with).
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 44_100
EXCERPT_START_S, EXCERPT_SECONDS = 60.0, 12.0
FORMATS = ("mp3", "ogg", "flac", "wav", "m4a", "webm")
ENCODERS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "192k"],
    "ogg": ["-c:a", "libvorbis"],
    "flac": ["-c:a", "flac"],
    "wav": ["-c:a", "pcm_s16le"],
    # The index (moov) first, as most shops and tag editors write it: a cut file keeps its index.
    "m4a": ["-c:a", "aac", "-movflags", "+faststart"],
    "webm": ["-c:a", "libvorbis"],  # Vorbis: Opus has no 44.1 kHz
}
# Largest codec frame in samples, the differential test's tolerance: ffmpeg decodes whole frames.
CODEC_FRAME = {"mp3": 1152, "ogg": 2048, "flac": 4608, "wav": 1, "m4a": 2048, "webm": 2048}
COVER_SIDE = 820  # pixels: 820 × 820 RGB noise is a 2 MB PNG (noise does not compress)
COVER_FORMATS = ("mp3", "flac", "m4a")  # formats with a standard place for a picture
BURST_BYTES = 4096
# Where the intake can see the damage: noise in PCM is just samples, FLAC's parser drops a damaged
# frame unseen, and a cut Ogg or WAV file announces the length that is left.
BURST_SEEN = ("mp3", "ogg", "m4a", "webm")
CUT_SEEN = ("mp3", "flac", "m4a", "webm")


@dataclass(frozen=True)
class DamagedFile:
    path: Path
    clean: Path  # the same excerpt, same format, undamaged
    ends_only: bool  # only what surrounds the audio is damaged: the samples are those of `clean`
    reported: bool = False  # the intake sees damage: a frame refused, or less than the header announces


def damaged_files(directory: Path, recording: Path) -> dict[str, DamagedFile]:
    """{case name: file} for every damage × the formats it applies to, written into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20_261_201)
    cover = _noise_png(directory / "cover.png", rng)
    corpus: dict[str, DamagedFile] = {}

    def add(name: str, clean: Path, content: bytes, *, ends_only: bool, reported: bool = False) -> None:
        path = directory / f"{name}{clean.suffix}"
        path.write_bytes(content)
        corpus[name] = DamagedFile(path, clean, ends_only, reported)

    for ext in FORMATS:
        clean = _excerpt(recording, directory / f"clean.{ext}")
        data = clean.read_bytes()
        add(f"{ext}_trailing_zeros", clean, data + bytes(3000), ends_only=True)
        add(
            f"{ext}_trailing_text",
            clean,
            data + b"Downloaded from a free music site\r\n" * 40,
            ends_only=True,
        )
        add(f"{ext}_trailing_noise", clean, data + _noise(rng, 3000), ends_only=True)
        add(
            f"{ext}_noise_burst",
            clean,
            _overwrite(data, len(data) // 2, _noise(rng, BURST_BYTES)),
            ends_only=False,
            reported=ext in BURST_SEEN,
        )
        # 70 % in and 7 bytes on: inside a frame (or a sample) for every codec.
        cut = data[: int(len(data) * 0.7) + 7]
        add(f"{ext}_truncated", clean, cut, ends_only=False, reported=ext in CUT_SEEN)
        if ext in COVER_FORMATS:
            covered = _with_cover(clean, cover, directory / f"{ext}_cover_2mb{clean.suffix}")
            corpus[f"{ext}_cover_2mb"] = DamagedFile(covered, clean, ends_only=True)
    mp3 = directory / "clean.mp3"
    mp3_data = mp3.read_bytes()
    add("mp3_ape_id3v1", mp3, mp3_data + _ape_tag() + _id3v1_tag(), ends_only=True)
    add("mp3_lyrics3_id3v1", mp3, mp3_data + _lyrics3_tag() + _id3v1_tag(), ends_only=True)
    add("mp3_leading_junk", mp3, _noise(rng, 3000) + mp3_data, ends_only=True)
    wav = directory / "clean.wav"
    add("wav_streamed_sizes", wav, _streamed_wav(wav.read_bytes()), ends_only=True)
    add("wav_extra_chunks", wav, _wav_with_extra_chunks(wav.read_bytes()), ends_only=True)
    return corpus


def ffmpeg_decoded_samples(path: Path) -> int:
    """Samples per channel the ffmpeg CLI decodes from the first audio stream at `RATE` (the oracle)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "quiet", "-i", str(path), "-map", "0:a:0", "-ac", "1"]
        + ["-ar", str(RATE), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return len(raw) // 4


def _excerpt(recording: Path, path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", str(EXCERPT_START_S)]
        + ["-t", str(EXCERPT_SECONDS), "-i", str(recording), "-map", "0:a", "-map_metadata", "-1"]
        + ["-ar", str(RATE), *ENCODERS[path.suffix.lstrip(".")], str(path)],
        check=True,
    )
    return path


def _with_cover(clean: Path, cover: Path, path: Path) -> Path:
    """`clean` with `cover` embedded as its front cover (ID3v2 APIC, FLAC PICTURE, MP4 covr)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(clean), "-i", str(cover)]
        + ["-map", "0:a", "-map", "1", "-c", "copy", "-disposition:v", "attached_pic"]
        + (["-id3v2_version", "3"] if path.suffix == ".mp3" else [])
        + [str(path)],
        check=True,
    )
    return path


def _noise_png(path: Path, rng: np.random.Generator) -> Path:
    pixels = rng.integers(0, 256, COVER_SIDE * COVER_SIDE * 3, dtype=np.uint8).tobytes()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
        + ["-s", f"{COVER_SIDE}x{COVER_SIDE}", "-i", "-", "-frames:v", "1", str(path)],
        input=pixels,
        check=True,
    )
    return path


def _noise(rng: np.random.Generator, size: int) -> bytes:
    return rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def _overwrite(data: bytes, offset: int, patch: bytes) -> bytes:
    return data[:offset] + patch + data[offset + len(patch) :]


def _ape_tag() -> bytes:
    """An APEv2 tag with header and footer, as MP3Gain writes its ReplayGain values."""
    items = b"".join(
        struct.pack("<II", len(value), 0) + key + b"\0" + value
        for key, value in ((b"REPLAYGAIN_TRACK_GAIN", b"-6.52 dB"), (b"MP3GAIN_MINMAX", b"093,210"))
    )
    size = len(items) + 32  # items + footer, as the format counts it

    def frame(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, 2, flags) + bytes(8)

    return frame(0xA0000000) + items + frame(0x80000000)


def _lyrics3_tag() -> bytes:
    """A Lyrics3 v2 tag: fields of id + 5-digit size, then the 6-digit size of it all and `LYRICS200`."""
    fields = b"IND00002" + b"10" + b"LYR00025" + b"[00:01.00]la la la la la"
    body = b"LYRICSBEGIN" + fields
    return body + f"{len(body):06d}".encode() + b"LYRICS200"


def _id3v1_tag() -> bytes:
    def text(value: str, width: int) -> bytes:
        return value.encode().ljust(width, b"\0")

    return (
        b"TAG"
        + text("Frontiers", 30)
        + text("Kievernagel", 30)
        + text("ASC", 30)
        + b"2004"
        + text("", 30)
        + b"\x18"
    )


def _chunks(wav: bytes) -> list[tuple[bytes, bytes]]:
    """The RIFF/WAVE file's chunks as (id, body), pad bytes dropped."""
    chunks, offset = [], 12
    while offset + 8 <= len(wav):
        chunk_id, size = wav[offset : offset + 4], struct.unpack("<I", wav[offset + 4 : offset + 8])[0]
        chunks.append((chunk_id, wav[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size & 1)
    return chunks


def _riff(chunks: list[tuple[bytes, bytes]], *, streamed: bool = False) -> bytes:
    body = b"WAVE" + b"".join(
        chunk_id
        + struct.pack("<I", 0xFFFFFFFF if streamed and chunk_id == b"data" else len(data))
        + data
        + bytes(len(data) & 1)
        for chunk_id, data in chunks
    )
    return b"RIFF" + struct.pack("<I", 0xFFFFFFFF if streamed else len(body)) + body


def _streamed_wav(wav: bytes) -> bytes:
    """The sizes a recorder writes while streaming (unknown length: 0xFFFFFFFF in RIFF and data)."""
    return _riff(_chunks(wav), streamed=True)


def _wav_with_extra_chunks(wav: bytes) -> bytes:
    """Chunks real editors add around `data`: LIST/INFO and an odd-sized one before, `id3 ` after."""
    chunks = _chunks(wav)
    data_at = [chunk_id for chunk_id, _ in chunks].index(b"data")
    info = b"INFO" + b"INAM" + struct.pack("<I", 10) + b"Frontiers\0"
    before = [(b"LIST", info), (b"junk", b"odd-sized padding")]
    after = [(b"id3 ", b"ID3\x03\x00\x00\x00\x00\x00\x00")]
    return _riff(chunks[:data_at] + before + chunks[data_at:] + after)
