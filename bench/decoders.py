"""Decode + resample to 16 kHz mono: the candidates for the shared audio intake, on the same files.

Candidates: our intake (PyAV + soxr, `tagger.audio.load_audio`), soundfile + soxr, tensorflow-io
(`AudioIOTensor` + `tfio.audio.resample`) and the ffmpeg command line (decode, downmix and resample
in one process, raw float32 on stdout).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import soxr

from bench.report import median_spread, repeat
from support.audio_files import make_audio
from tagger.audio import load_audio

TITLE = "Decoders: decode + resample to 16 kHz mono"
RATE = 16_000
RUNS = 7
FORMATS = ["wav", "flac", "ogg", "opus", "mp3", "m4a"]


def ours(path: Path) -> np.ndarray:
    return load_audio(path, sample_rate=RATE)


def soundfile_soxr(path: Path) -> np.ndarray:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return soxr.resample(samples.mean(axis=1), rate, RATE, quality="HQ")


def tensorflow_io(path: Path) -> np.ndarray:
    import tensorflow as tf
    import tensorflow_io as tfio

    audio = tfio.audio.AudioIOTensor(str(path))
    samples = tf.cast(audio.to_tensor(), tf.float32)
    if audio.dtype == tf.int16:
        samples /= 32768.0
    mono = tf.reduce_mean(samples, axis=1)
    return tfio.audio.resample(mono, tf.cast(audio.rate, tf.int64), RATE).numpy()


def ffmpeg_cli(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-f",
            "f32le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.float32)


CANDIDATES: dict[str, Callable[[Path], np.ndarray]] = {
    "PyAV + soxr (ours)": ours,
    "soundfile + soxr": soundfile_soxr,
    "tensorflow-io": tensorflow_io,
    "ffmpeg CLI": ffmpeg_cli,
}


def _cell(
    decode: Callable[[Path], np.ndarray], path: Path, seconds: float, baseline: float | None
) -> tuple[str, float | None]:
    try:
        waveform = decode(path)
    except Exception as error:  # noqa: BLE001 - a candidate failing on a format is a result, not a crash
        return f"fails ({type(error).__name__})", None
    if abs(waveform.size - seconds * RATE) > 0.05 * seconds * RATE:
        return f"wrong length ({waveform.size / RATE:.1f} s)", None
    times = repeat(lambda: decode(path), runs=RUNS)
    median = sorted(times)[len(times) // 2]
    ratio = "" if baseline is None else f", {median / baseline:.2f}×"
    return median_spread(times) + ratio, median


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        files = [
            (
                make_audio(
                    Path(tmp) / f"30s.{ext}",
                    seconds=30,
                    channels=2,
                    sample_rate=48_000 if ext == "opus" else 44_100,
                ),
                30.0,
            )
            for ext in FORMATS
        ]
        files.append((make_audio(Path(tmp) / "4min.mp3", seconds=240, channels=2), 240.0))
        header = "| file | " + " | ".join(CANDIDATES) + " |\n|---|" + "---|" * len(CANDIDATES) + "\n"
        rows = []
        for path, seconds in files:
            cells, baseline = [], None
            for decode in CANDIDATES.values():
                text, median = _cell(decode, path, seconds, baseline)
                baseline = baseline if baseline is not None else median
                cells.append(text)
            rows.append(f"| {path.name} (44.1/48 kHz stereo) | " + " | ".join(cells) + " |")
    return (
        f"Median wall time over {RUNS} runs (min–max), and the ratio to our intake in the same run.\n\n"
        + header
        + "\n".join(rows)
        + "\n\nChoice: PyAV + soxr. It is the only in-process candidate that reads every format the "
        "service must accept (soundfile has no AAC/M4A; tensorflow-io's FFmpeg ops need FFmpeg 4.2 "
        "libraries and fail on M4A and Opus here), it decodes frame by frame so a duration cap stops "
        "before a decompression bomb fills memory, a demuxer whitelist keeps FFmpeg from following "
        "playlists, and soxr HQ is the resampler `librosa.load` uses, which the musicnn parity relies "
        "on. The ffmpeg CLI pays a process start per file."
    )
