"""Inference engines on the exported SavedModels: TensorFlow against OpenVINO, one and two batches in flight.

Every model in `saved_models/` is loaded the way the service loads it (`tagger.repository.load_model`
with the default threads) on each engine, plus OpenVINO compiled with the latency hint and called one
batch at a time (what "one batch in flight" means), and the same random batch of 16 windows is timed
on each, alternating call by call. Ours (`tagger/openvino_engine.py`) compiles with the throughput
hint and splits each batch over its streams, i.e. two half batches in flight on two cores.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.report import markdown_table, spread
from bench.serving import models_dir
from tagger.arrays import FloatArray
from tagger.openvino_engine import compile_for_cpu
from tagger.predictions import WindowPrediction
from tagger.repository import ModelRepository, load_model
from tagger.settings import Settings

TITLE = "Inference engines: TensorFlow vs OpenVINO"
BATCH = 16
CALLS = 10

logger = logging.getLogger(__name__)

Predict = Callable[[list[FloatArray]], list[WindowPrediction] | object]


def one_in_flight(version_dir: Path, threads: int) -> tuple[Predict, float]:
    """OpenVINO with the latency hint, one synchronous call per batch; and its convert + compile seconds."""
    started = time.perf_counter()
    request = compile_for_cpu(version_dir, threads=threads, hint="LATENCY").create_infer_request()
    return (lambda windows: request.infer({0: np.stack(windows)})), time.perf_counter() - started


def run() -> str:
    settings = Settings()
    rows = []
    for name, version in ModelRepository(models_dir()).catalog().models.items():
        windows = list(
            np.random.default_rng(0)
            .uniform(-0.5, 0.5, (BATCH, version.metadata.window_samples))
            .astype(np.float32)
        )
        loads, engines = {}, {}
        for engine in ("tensorflow", "openvino"):
            started = time.perf_counter()
            model = load_model(version.path, Settings(engine=engine).runtime)
            loads[engine] = time.perf_counter() - started
            engines[engine] = model
        latency, loads["latency"] = one_in_flight(version.path, settings.tf_intra_op_threads)
        calls: dict[str, Predict] = {
            "tensorflow": engines["tensorflow"].predict,
            "latency": latency,
            "openvino": engines["openvino"].predict,
        }
        times: dict[str, list[float]] = {key: [] for key in calls}
        for call in calls.values():
            call(windows)  # warm-up
        for _ in range(CALLS):
            for key, call in calls.items():
                started = time.perf_counter()
                call(windows)
                times[key].append(time.perf_counter() - started)
        expected = np.stack([p.scores for p in engines["tensorflow"].predict(windows)])
        actual = np.stack([p.scores for p in engines["openvino"].predict(windows)])
        rate = {key: BATCH / statistics.median(values) for key, values in times.items()}
        logger.info("%s: %s", name, {key: round(value, 1) for key, value in rate.items()})
        per_second = {key: spread([BATCH / t for t in values], digits=1) for key, values in times.items()}
        rows.append(
            [
                f"`{name}`",
                per_second["tensorflow"],
                f"{per_second['latency']} ({rate['latency'] / rate['tensorflow']:.2f}×)",
                f"{per_second['openvino']} ({rate['openvino'] / rate['tensorflow']:.2f}×)",
                f"{loads['tensorflow']:.1f} / {loads['openvino']:.1f}",
                f"{float(np.abs(expected - actual).max()):.1e}",
            ]
        )
    table = markdown_table(
        [
            "model",
            "TensorFlow windows/s",
            "OpenVINO, one batch in flight (latency hint)",
            "OpenVINO as served: two half batches in flight (throughput hint)",
            "load s, TF / OpenVINO (convert + compile)",
            "max score difference",
        ],
        rows,
    )
    return (
        f"Batches of {BATCH} random windows, median (min–max) windows/s of {CALLS} calls per engine, "
        f"alternating; {settings.tf_intra_op_threads} threads each (the default: all CPUs). Load times are "
        "in a process that has already imported both engines (TensorFlow's import: see Start-up).\n\n" + table
    )
