"""The old preprocessing (librosa.load + melspectrogram) against our intake + the in-model Kapre front end.

Both turn the same 3-minute MP3 into musicnn's log-mel spectrogram (16 kHz, 512-point FFT, hop
256, 96 Slaney mels, log10(10000·x + 1)). The old pipeline: `librosa.load(path, sr=16000)` then
`librosa.feature.melspectrogram` over the whole song, as musicnn and the users' scripts do. Ours:
`service.audio.load_audio` then the Kapre layers every model starts with (`training.frontend`,
here on their own as a `tf.function`) over the song's windows as the service cuts them. The two
alternate; the first call of each is not timed (librosa compiles numba code on its first use in a
process). The spectrograms are compared frame by frame where both computed the same frame.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import librosa
import numpy as np
import tensorflow as tf

from bench.report import Timing, spread, timed
from bench.songs import real_excerpts
from service.audio import load_audio
from service.chunking import cut_chunks
from training.frontend import build_frontend
from training.musicnn import MUSICNN_FRONTEND, MUSICNN_HOP_SAMPLES

TITLE = "Spectrogram front ends: librosa on the CPU vs Kapre in the model"
SONG_SECONDS = 180.0
RUNS = 5
FRAMES_PER_WINDOW = MUSICNN_HOP_SAMPLES // MUSICNN_FRONTEND.hop_length  # 187: windows tile the frames


def librosa_pipeline(path: Path) -> np.ndarray:
    """(frames, mels): musicnn's own preprocessing."""
    config = MUSICNN_FRONTEND
    waveform, rate = librosa.load(path, sr=config.sample_rate)
    mel = librosa.feature.melspectrogram(
        y=waveform, sr=rate, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels
    )
    return np.log10(config.log_multiplier * mel.T + 1)


class KapreFrontend:
    """Our intake, the service's windows (song centred once, musicnn's hop) and the model's first layers."""

    def __init__(self) -> None:
        frontend = build_frontend(MUSICNN_FRONTEND)
        self._spectrogram = tf.function(
            lambda waveform: frontend(waveform, training=False),
            input_signature=[tf.TensorSpec([None, MUSICNN_FRONTEND.chunk_samples], tf.float32)],
        )

    def __call__(self, path: Path) -> np.ndarray:
        """(windows, frames, mels)."""
        config = MUSICNN_FRONTEND
        waveform = np.pad(load_audio(path, sample_rate=config.sample_rate), (config.n_fft // 2, 0))
        chunks, _ = cut_chunks(waveform, chunk_samples=config.chunk_samples, hop=MUSICNN_HOP_SAMPLES)
        return self._spectrogram(tf.constant(np.stack(chunks))).numpy()[..., 0]


def max_difference(ours: np.ndarray, reference: np.ndarray) -> float:
    """Largest |difference| over the frames both computed (our window k, frame j = librosa frame 187k + j)."""
    windows = min(len(ours), len(reference) // FRAMES_PER_WINDOW)
    tiled = reference[: windows * FRAMES_PER_WINDOW].reshape(windows, FRAMES_PER_WINDOW, -1)
    return float(np.abs(ours[:windows, :FRAMES_PER_WINDOW] - tiled).max())


def run() -> str:
    kapre = KapreFrontend()
    with tempfile.TemporaryDirectory() as tmp:
        (song,) = real_excerpts(Path(tmp), SONG_SECONDS, count=1)
        first = {"librosa": timed(lambda: librosa_pipeline(song)), "ours": timed(lambda: kapre(song))}
        difference = max_difference(kapre(song), librosa_pipeline(song))
        times: dict[str, list[Timing]] = {"librosa": [], "ours": []}
        for _ in range(RUNS):
            times["librosa"].append(timed(lambda: librosa_pipeline(song)))  # noqa: B023
            times["ours"].append(timed(lambda: kapre(song)))  # noqa: B023
    return report(first, times, difference)


def report(first: dict[str, Timing], times: dict[str, list[Timing]], difference: float) -> str:
    names = {
        "librosa": "`librosa.load` + `melspectrogram` (old)",
        "ours": "`load_audio` + Kapre front end (ours)",
    }
    lines = ["| pipeline | first call s | wall s | CPU s |", "|---|---|---|---|"]
    for key, label in names.items():
        lines.append(
            f"| {label} | {first[key].wall:.1f} | {spread([t.wall for t in times[key]], digits=2)} "
            f"| {spread([t.cpu for t in times[key]], digits=2)} |"
        )
    ratio = statistics.median(t.wall for t in times["librosa"]) / statistics.median(
        t.wall for t in times["ours"]
    )
    return (
        f"A {SONG_SECONDS / 60:.0f}-minute excerpt of a real recording (Debian's `asc-music`), 44.1 kHz "
        f"stereo 192 kbit/s MP3; median (min–max) of {RUNS} runs each, alternating. CPU is the process's "
        "CPU time (every thread).\n\n"
        + "\n".join(lines)
        + f"\n\nOurs is {ratio:.1f}× faster by wall time, and its spectrogram is the model's own input. "
        f"Largest log-mel difference between the two over the frames both computed: {difference:.1e} (the "
        "MP3 decoders differ: libsndfile's mpg123 in librosa, FFmpeg in ours). The old pipeline has yet to "
        "run the model; ours has already run the model's first layers."
    )
