"""Benchmark audio: real recordings shaped like typical uploads, and copies that differ in one tag.

Real music comes from the Debian package the parity tests use (`tests/debian_music.py`: three
orchestral/electronic tracks of 5–7 minutes, MP3 at 22.05 kHz). Excerpts are re-encoded the way a
typical upload is made (MP3, 44.1 kHz stereo, 192 kbit/s), so decoding and resampling cost what
they cost on users' files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.debian_music import debian_music

UPLOAD_ENCODING = ["-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "192k"]
EXCERPT_START_S = 20.0  # past the intros


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments], check=True)


def real_excerpts(
    directory: Path,
    seconds: float,
    *,
    count: int | None = None,
    start: float = EXCERPT_START_S,
    tracks: list[Path] | None = None,
) -> list[Path]:
    """`seconds` from `start` of the first `count` `tracks` (default: asc-music's), encoded as uploads are."""
    excerpts = []
    for track in (tracks or debian_music())[:count]:
        target = directory / f"{track.stem}-{start:g}-{seconds:g}s.mp3"
        _ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(track), *UPLOAD_ENCODING, str(target))
        excerpts.append(target)
    return excerpts


def song_variants(base: Path, count: int) -> list[Path]:
    """`count` copies of `base` that differ only in a metadata comment (stream copy, no re-encode).

    Each has its own SHA-256, so the service computes every one instead of answering from its store,
    while decoding and the model cost the same as for `base`.
    """
    variants = []
    for index in range(count):
        target = base.with_name(f"{base.stem}-{index}{base.suffix}")
        _ffmpeg("-i", str(base), "-c", "copy", "-metadata", f"comment=variant {index}", str(target))
        variants.append(target)
    return variants
