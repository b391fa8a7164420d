"""How far a model's song vector moves when the song is pitch-shifted, stretched, noised or re-encoded.

The thesis (§4) expects a noisy student to move less than its teachers. Each test song gives an
excerpt of consecutive windows from its middle. The excerpt is written losslessly (32-bit float
WAV), perturbed by sox (pitch, tempo) or ffmpeg (MP3), read back through the core's intake, cut by
the core's windowing and scored; white noise is added to the samples directly. A song vector is the
mean of its window scores, as the service computes it.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tagger.audio import load_audio
from tagger.model_format import FrontendSpec
from tagger.windows import song_windows

Predict = Callable[[np.ndarray], np.ndarray]  # (n, window_samples) -> (n, n_tags)

NOISE_SNR_DB = 20.0
# name -> sox effect arguments, or "mp3" / "noise"
PERTURBATIONS: dict[str, list[str] | str] = {
    "pitch +1 semitone": ["pitch", "100"],
    "pitch -1 semitone": ["pitch", "-100"],
    "time stretch +5%": ["tempo", "1.05"],
    "time stretch -5%": ["tempo", "0.95"],
    "white noise 20 dB SNR": "noise",
    "MP3 64 kbit/s": "mp3",
}


def middle_excerpt(waveform: np.ndarray, frontend: FrontendSpec, num_windows: int) -> np.ndarray:
    """`num_windows` consecutive windows' worth of samples from the middle (the whole song if shorter)."""
    length = num_windows * frontend.window_samples
    start = max(0, (waveform.size - length) // 2)
    return waveform[start : start + length]


def perturb(excerpt: np.ndarray, name: str, sample_rate: int, *, seed: int) -> np.ndarray:
    """The excerpt after perturbation `name`, decoded again by `tagger.audio.load_audio`."""
    effect = PERTURBATIONS[name]
    if effect == "noise":
        rng = np.random.default_rng(seed)
        noise_power = np.mean(excerpt**2) / 10 ** (NOISE_SNR_DB / 10)
        return (excerpt + rng.normal(0, np.sqrt(noise_power), excerpt.size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as scratch:
        clean = Path(scratch) / "clean.wav"
        _write_wav(clean, excerpt, sample_rate)
        if effect == "mp3":
            out = Path(scratch) / "out.mp3"
            command = [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                str(clean),
                "-c:a",
                "libmp3lame",
                "-b:a",
                "64k",
                str(out),
            ]
        else:
            out = Path(scratch) / "out.wav"
            command = ["sox", str(clean), "-e", "floating-point", str(out), *effect]
        subprocess.run(command, check=True, capture_output=True)
        return load_audio(out, sample_rate=sample_rate)


def song_vector(predict: Predict, waveform: np.ndarray, frontend: FrontendSpec) -> np.ndarray:
    windows, _ = song_windows(waveform, frontend, hop=frontend.window_samples)
    return predict(np.stack(windows)).mean(axis=0)


def movement(clean: np.ndarray, perturbed: np.ndarray) -> dict[str, float]:
    """Mean over songs of the mean |Δ| per tag and of the cosine distance between song vectors, and the
    mean |Δ| relative to the mean |Δ| between two different clean songs.

    The relative figure is what compares models: one whose scores hardly vary from song to song
    cannot move far either, so only a move that is small next to the gap between songs is robustness.
    """
    cosine = np.sum(clean * perturbed, axis=1) / (
        np.linalg.norm(clean, axis=1) * np.linalg.norm(perturbed, axis=1) + 1e-12
    )
    moved = float(np.abs(perturbed - clean).mean())
    pairs = np.abs(clean[:, np.newaxis] - clean[np.newaxis]).mean(axis=2)
    between_songs = float(pairs[~np.eye(len(clean), dtype=bool)].mean())
    return {
        "mean_abs_diff": moved,
        "cosine_distance": float(np.mean(1 - cosine)),
        "relative_to_between_songs": moved / between_songs,
    }


def _write_wav(path: Path, waveform: np.ndarray, sample_rate: int) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "f32le",
            "-ar",
            str(sample_rate),
            "-ac",
            "1",
            "-i",
            "pipe:",
            "-c:a",
            "pcm_f32le",
            str(path),
        ],
        input=waveform.astype("<f4").tobytes(),
        check=True,
        capture_output=True,
    )
