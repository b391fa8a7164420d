"""Real audio files for tests, made on the spot by ffmpeg (no committed blobs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

# ffmpeg encoder settings per file extension; the default encoder is used where none is named.
ENCODERS: dict[str, list[str]] = {
    "wav": [],
    "flac": [],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "mp3": ["-c:a", "libmp3lame"],
    "m4a": ["-c:a", "aac"],
}


def make_audio(
    path: Path,
    *,
    seconds: float = 2.0,
    sample_rate: int = 44_100,
    channels: int = 1,
    codec: list[str] | None = None,
    source: str = "music",
) -> Path:
    """Write `seconds` of a music-like signal (chord + noise bursts, deterministic) or `silence` to `path`.

    `codec` overrides the encoder chosen from the extension (e.g. `["-c:a", "pcm_s24le"]`).
    """
    if seconds <= 0:
        raise ValueError(f"`seconds` must be positive (ffmpeg would never stop). Received: seconds={seconds}")
    if source == "music":
        graph = (
            f"sine=f=220:r={sample_rate}:d={seconds},volume=0.3[a];"
            f"sine=f=277:r={sample_rate}:d={seconds},volume=0.2[b];"
            f"anoisesrc=r={sample_rate}:d={seconds}:a=0.05:seed=7,volume='lt(mod(t,0.5),0.05)':eval=frame[c];"
            "[a][b][c]amix=inputs=3:normalize=0"
        )
    elif source == "silence":
        graph = f"anullsrc=r={sample_rate}:cl=mono,atrim=duration={seconds}"
    else:
        raise ValueError(f"unknown source {source!r}")
    encoder = ENCODERS[path.suffix.lstrip(".")] if codec is None else codec
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-filter_complex",
            graph,
            "-ac",
            str(channels),
            "-ar",
            str(sample_rate),
            *encoder,
            str(path),
        ],
        check=True,
    )
    return path
