"""The old preprocessing (librosa.load + melspectrogram) against our intake + the in-model Kapre front end.

Both turn the same 3-minute MP3 into musicnn's log-mel spectrogram (16 kHz, 512-point FFT, hop
256, 96 Slaney mels, log10(10000·x + 1)). The old pipeline: `librosa.load(path, sr=16000)` then
`librosa.feature.melspectrogram` over the whole song, as musicnn and the users' scripts do; timed
both with librosa 0.11's default resampler (soxr) and with `res_type="kaiser_best"` (resampy),
the default before librosa 0.10, which the users' scripts were written against. Ours:
`tagger.audio.load_audio` then the Kapre layers every model starts with (`training.frontend`,
here on their own as a `tf.function`) over the song's windows as the service cuts them. They
alternate; the first call of each is not timed (librosa compiles numba code on its first use in a
process). The spectrograms are compared frame by frame where both computed the same frame.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import tensorflow as tf

from bench.report import Timing, measured, spread, timed
from bench.songs import real_excerpts
from tagger.audio import load_audio
from tagger.windows import cut_windows
from training.frontend import build_frontend
from training.musicnn import MUSICNN_FRONTEND, MUSICNN_HOP_SAMPLES

TITLE = "Spectrogram front ends: librosa on the CPU vs Kapre in the model"
SONG_SECONDS = 180.0
RUNS = 5
FRAMES_PER_WINDOW = MUSICNN_HOP_SAMPLES // MUSICNN_FRONTEND.hop_length  # 187: windows tile the frames


def librosa_audio(path: Path, res_type: str = "soxr_hq") -> np.ndarray:
    return librosa.load(path, sr=MUSICNN_FRONTEND.sample_rate, res_type=res_type)[0]


def librosa_spectrogram(waveform: np.ndarray) -> np.ndarray:
    """(frames, mels): musicnn's own preprocessing."""
    config = MUSICNN_FRONTEND
    mel = librosa.feature.melspectrogram(
        y=waveform,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
    )
    return np.log10(config.log_multiplier * mel.T + 1)


def our_audio(path: Path) -> np.ndarray:
    return load_audio(path, sample_rate=MUSICNN_FRONTEND.sample_rate)


class KapreSpectrogram:
    """The service's windows (song centred once, musicnn's hop) through the model's first layers."""

    def __init__(self) -> None:
        frontend = build_frontend(MUSICNN_FRONTEND)
        self._spectrogram = tf.function(
            lambda waveform: frontend(waveform, training=False),
            input_signature=[tf.TensorSpec([None, MUSICNN_FRONTEND.window_samples], tf.float32)],
        )

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        """(windows, frames, mels)."""
        config = MUSICNN_FRONTEND
        windows, _ = cut_windows(
            np.pad(waveform, (config.n_fft // 2, 0)),
            window_samples=config.window_samples,
            hop=MUSICNN_HOP_SAMPLES,
        )
        return self._spectrogram(tf.constant(np.stack(windows))).numpy()[..., 0]


def max_difference(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest |difference| over the frames both computed (our window k, frame j = librosa frame 187k + j)."""
    windows = min(len(ours), len(reference) // FRAMES_PER_WINDOW)
    tiled = reference[: windows * FRAMES_PER_WINDOW].reshape(windows, FRAMES_PER_WINDOW, -1)
    return float(np.abs(ours[:windows, :FRAMES_PER_WINDOW] - tiled).max())


PIPELINES = {
    "old": ("`librosa.load`", "`librosa.feature.melspectrogram` + log"),
    "old, librosa < 0.10": ("`librosa.load(res_type='kaiser_best')`", "the same"),
    "ours": ("`tagger.audio.load_audio`", "windows + Kapre front end"),
}


def run() -> str:
    kapre = KapreSpectrogram()
    stages: dict[str, tuple[Callable[[Path], Any], Callable[[Any], Any]]] = {
        "old": (librosa_audio, librosa_spectrogram),
        "old, librosa < 0.10": (partial(librosa_audio, res_type="kaiser_best"), librosa_spectrogram),
        "ours": (our_audio, kapre),
    }
    with tempfile.TemporaryDirectory() as tmp:
        (song,) = real_excerpts(Path(tmp), SONG_SECONDS, count=1)
        first = {
            name: timed(partial(spectrogram_of, audio, spectrogram, song))
            for name, (audio, spectrogram) in stages.items()
        }
        difference = max_difference(kapre(our_audio(song)), librosa_spectrogram(librosa_audio(song)))
        times: dict[str, list[tuple[Timing, Timing]]] = {name: [] for name in stages}
        for _ in range(RUNS):
            for name, (audio, spectrogram) in stages.items():
                load, waveform = measured(partial(audio, song))
                times[name].append((load, timed(partial(spectrogram, waveform))))
    return report(first, times, difference)


def spectrogram_of(audio: Callable[[Path], Any], spectrogram: Callable[[Any], Any], song: Path) -> Any:
    """One song from file to spectrogram through one pipeline's two stages."""
    return spectrogram(audio(song))


def report(first: dict[str, Timing], times: dict[str, list[tuple[Timing, Timing]]], difference: float) -> str:
    lines = [
        "| pipeline | first call s | decode + resample s | spectrogram s | total s | total CPU s |",
        "|---|---|---|---|---|---|",
    ]
    totals = {}
    for name, (load_label, spectrogram_label) in PIPELINES.items():
        totals[name] = [load.wall + spectrogram.wall for load, spectrogram in times[name]]
        lines.append(
            f"| {name}: {load_label} + {spectrogram_label} | {first[name].wall:.1f} "
            f"| {spread([load.wall for load, _ in times[name]], digits=2)} "
            f"| {spread([spectrogram.wall for _, spectrogram in times[name]], digits=2)} "
            f"| {spread(totals[name], digits=2)} "
            f"| {spread([load.cpu + spectrogram.cpu for load, spectrogram in times[name]], digits=2)} |"
        )
    ours = statistics.median(totals["ours"])
    ratios = " and ".join(
        f"{statistics.median(totals[name]) / ours:.2f}× ({name})" for name in PIPELINES if name != "ours"
    )
    return (
        f"A {SONG_SECONDS / 60:.0f}-minute excerpt of a real recording (Debian's `asc-music`), 44.1 kHz "
        f"stereo 192 kbit/s MP3; median (min–max) of {RUNS} runs each, alternating. CPU is the process's "
        "CPU time (every thread).\n\n"
        + "\n".join(lines)
        + f"\n\nThe old pipeline takes {ratios} the time of ours. Largest log-mel difference between "
        f"the two over the frames both computed: {difference:.1e} (the MP3 decoders differ: libsndfile's "
        "mpg123 in librosa, FFmpeg in ours). Ours computes the spectrogram inside the model, so it is the "
        "one the model was trained on, and on a GPU it runs there."
    )
