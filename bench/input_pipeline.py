"""Training input pipeline: examples/s `training.pipeline` delivers against what a training step consumes.

For each preset (the two the CPU experiments train), three rates in examples/s, in one process:
the pipeline alone (`labelled_dataset` with the reference augmentation, once its decoded tracks
are cached: what every epoch after the first delivers), the training step alone (`train_on_batch`
on one batch held in memory, compiled as `training.train` compiles), and `fit` fed by the pipeline,
which is what a run gets. The first batch also reports the cold start: the shuffle buffer holds
every track, so it waits for all of them to be decoded through `tagger.audio`. Tracks are
excerpts of real recordings (Debian's `asc-music`) cut as 44.1 kHz stereo MP3s, with random tags.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from bench.report import spread
from bench.songs import real_excerpts
from tagger.model_format import SCORES_OUTPUT
from tagger.tracks import Track
from training import pipeline
from training.augment import AugmentationConfig, Augmenter
from training.zoo import PRESETS as ZOO_PRESETS
from training.zoo import build_preset

TITLE = "Training input pipeline"
PRESETS = ("transformer_tiny", "resnet_tiny")
NUM_TAGS = 50
BATCH_SIZE = 32  # training.config.FitConfig's default
EXCERPT_SECONDS = 30.0
EXCERPT_STARTS = (20.0, 60.0, 100.0, 140.0)  # four excerpts of each of the three recordings
PIPELINE_BATCHES = 10
TRAIN_STEPS = 6
RUNS = 3

logger = logging.getLogger(__name__)


class BatchClock(keras.callbacks.Callback):
    """When each training batch ended: steady-state steps/s inside one `fit`, without its start-up."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        self.ends.append(time.perf_counter())


@dataclass(frozen=True)
class PresetResult:
    preset: str
    cold_start: float  # seconds to the first batch: every track decoded
    pipeline: list[float]  # examples/s, pipeline alone
    step: list[float]  # examples/s, train_on_batch alone
    fit: list[float]  # examples/s, fit on the pipeline


def _rate(seconds: float, batches: int) -> float:
    return batches * BATCH_SIZE / seconds


def measure_preset(preset: str, audio: list[Path]) -> PresetResult:
    frontend = ZOO_PRESETS[preset].frontend
    rng = np.random.default_rng(0)
    tracks = [Track(str(path)) for path in audio]
    targets = (rng.random((len(tracks), NUM_TAGS)) < 0.1).astype(np.float32)
    dataset = pipeline.labelled_dataset(
        tracks,
        targets,
        frontend,
        batch_size=BATCH_SIZE,
        augmenter=Augmenter(AugmentationConfig(), frontend.sample_rate),
        seed=0,
    )
    batches = iter(dataset)
    started = time.perf_counter()
    next(batches)
    cold_start = time.perf_counter() - started

    model = build_preset(preset, NUM_TAGS)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4), loss={SCORES_OUTPUT: keras.losses.BinaryCrossentropy()}
    )
    windows, labels = next(batches)
    model.train_on_batch(windows, {SCORES_OUTPUT: labels})  # builds the train function
    fit_data = dataset.map(lambda window, target: (window, {SCORES_OUTPUT: target}))
    model.fit(fit_data, steps_per_epoch=2, epochs=1, verbose=0)
    rates: dict[str, list[float]] = {"pipeline": [], "step": [], "fit": []}
    for _ in range(RUNS):  # the three alternate, so a change in background load hits all of them
        started = time.perf_counter()
        for _ in range(PIPELINE_BATCHES):
            next(batches)
        rates["pipeline"].append(_rate(time.perf_counter() - started, PIPELINE_BATCHES))
        started = time.perf_counter()
        for _ in range(TRAIN_STEPS):
            model.train_on_batch(windows, {SCORES_OUTPUT: labels})
        rates["step"].append(_rate(time.perf_counter() - started, TRAIN_STEPS))
        clock = BatchClock()
        model.fit(fit_data, steps_per_epoch=TRAIN_STEPS + 1, epochs=1, verbose=0, callbacks=[clock])
        rates["fit"].append(_rate(clock.ends[-1] - clock.ends[0], TRAIN_STEPS))
    logger.info("%s: %s", preset, {name: round(statistics.median(values)) for name, values in rates.items()})
    return PresetResult(preset, cold_start, rates["pipeline"], rates["step"], rates["fit"])


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        audio = [
            path
            for start in EXCERPT_STARTS
            for path in real_excerpts(Path(tmp), EXCERPT_SECONDS, start=start)
        ]
        results = [measure_preset(preset, audio) for preset in PRESETS]
    return report(results, len(audio))


def report(results: list[PresetResult], num_tracks: int) -> str:
    setup = (
        f"{num_tracks} tracks of {EXCERPT_SECONDS:g} s, batches of {BATCH_SIZE}, the reference augmentation "
        f"(`AugmentationConfig()`), in-memory cache. Rates are examples/s, median (min–max) of {RUNS} rounds "
        f"of {PIPELINE_BATCHES} pipeline batches, {TRAIN_STEPS} steps alone and {TRAIN_STEPS} steps of `fit` "
        "(timed from the end of its first step, so its start-up is not counted)."
    )
    lines = [
        "| preset | window | first batch (decodes every track) | pipeline alone | training step alone "
        "| `fit` on the pipeline | pipeline ÷ step |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in results:
        headroom = statistics.median(item.pipeline) / statistics.median(item.step)
        window = ZOO_PRESETS[item.preset].frontend.window_seconds
        lines.append(
            f"| `{item.preset}` | {window:g} s | {item.cold_start:.1f} s "
            f"| {spread(item.pipeline)} | {spread(item.step)} | {spread(item.fit)} | {headroom:.1f}× |"
        )
    reading = (
        "A pipeline ÷ step ratio above 1 means the pipeline alone delivers faster than a step consumes. "
        "On this CPU the two share the same two cores, so `fit` is slower than the step alone whenever "
        "the pipeline's work (crops, augmentation) takes cores from the step; on a GPU the step leaves "
        "the CPU to the pipeline."
    )
    return "\n\n".join([setup, "\n".join(lines), reading])
