"""Inference engines on the exported SavedModels: TensorFlow against OpenVINO, as the service runs them.

Every model in `saved_models/` is loaded the way the service loads it (`tagger.repository.load_model`
with the default threads) on each engine, and the same random batch of 16 windows is timed on each,
alternating call by call.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from bench.report import Timing, markdown_table, spread, timed
from bench.serving import models_dir
from tagger.arrays import FloatArray
from tagger.predictions import WindowPrediction
from tagger.repository import ModelRepository, load_model
from tagger.settings import Settings

TITLE = "Inference engines: TensorFlow vs OpenVINO"
BATCH = 16
CALLS = 10

logger = logging.getLogger(__name__)

Predict = Callable[[list[FloatArray]], list[WindowPrediction] | object]


def cell(timings: list[Timing], reference: list[Timing] | None = None) -> str:
    """Windows/s by wall time (median, min–max), its ratio to `reference`, and windows per CPU-second."""
    rate = BATCH / statistics.median(t.wall for t in timings)
    ratio = (
        "" if reference is None else f", {rate * statistics.median(t.wall for t in reference) / BATCH:.2f}×"
    )
    per_cpu = BATCH / statistics.median(t.cpu for t in timings)
    return f"{spread([BATCH / t.wall for t in timings], digits=1)}{ratio}; {per_cpu:.1f} per CPU-s"


def run() -> str:
    import tagger.tensorflow_engine  # noqa: F401 (TensorFlow's import is not part of a model's load time)

    settings = Settings()
    rows, cpu_ratios = [], []
    for name, version in ModelRepository(models_dir()).catalog().models.items():
        windows = list(
            np.random.default_rng(0)
            .uniform(-0.5, 0.5, (BATCH, version.metadata.window_samples))
            .astype(np.float32)
        )
        loads, engines = {}, {}
        for engine in ("tensorflow", "openvino"):
            started = time.perf_counter()
            engines[engine] = load_model(version.path, Settings(engine=engine).runtime)
            loads[engine] = time.perf_counter() - started
        calls: dict[str, Predict] = {
            "tensorflow": engines["tensorflow"].predict,
            "openvino": engines["openvino"].predict,
        }
        times: dict[str, list[Timing]] = {key: [] for key in calls}
        for call in calls.values():
            call(windows)  # warm-up
        for _ in range(CALLS):
            for key, call in calls.items():
                times[key].append(timed(partial(call, windows)))
        expected = np.stack([p.scores for p in engines["tensorflow"].predict(windows)])
        actual = np.stack([p.scores for p in engines["openvino"].predict(windows)])
        cpu_ratios.append(
            statistics.median(t.cpu for t in times["tensorflow"])
            / statistics.median(t.cpu for t in times["openvino"])
        )
        logger.info("%s: %s", name, {key: cell(value) for key, value in times.items()})
        rows.append(
            [
                f"`{name}`",
                cell(times["tensorflow"]),
                cell(times["openvino"], times["tensorflow"]),
                f"{loads['tensorflow']:.1f} / {loads['openvino']:.1f}",
                f"{float(np.abs(expected - actual).max()):.1e}",
            ]
        )
    table = markdown_table(
        [
            "model",
            "TensorFlow windows/s",
            "OpenVINO (one batch in flight, latency hint)",
            "load s, TF / OpenVINO (convert + compile)",
            "max score difference",
        ],
        rows,
    )
    return (
        f"Batches of {BATCH} random windows, median (min–max) windows/s of {CALLS} calls per engine, with "
        "the ratio to TensorFlow's and windows per CPU-second of the process (steadier on a shared machine), "
        f"alternating; {settings.tf_intra_op_threads} threads each (the default: all CPUs). Load times are "
        "in a process that has already imported both engines (TensorFlow's import: see Start-up).\n\n"
        + table
        + f"\n\nPer CPU-second OpenVINO does {min(cpu_ratios):.2f}–{max(cpu_ratios):.2f}× TensorFlow's "
        "windows on this CPU. OpenVINO's other savings are start-up and memory (see Start-up)."
    )
