"""The OpenVINO engine: the exported SavedModel converted in memory and compiled for the CPU.

The CPU engine (`TAGGER_ENGINE=auto` without an NVIDIA GPU): `openvino.convert_model` reads the
SavedModel itself, Kapre's STFT included, without importing TensorFlow, so a CPU process starts
several times sooner and in half the memory (docs/benchmarks.md, "Start-up and memory per engine").
The SavedModel stays the one artefact: conversion takes under a second per model, in memory, in
every process (nothing is written next to the models, which the server may not be able to write).

Compiled with the latency hint (one stream using every thread) and float32 inference, so scores
match TensorFlow's (tests/engines/test_engine_parity.py). One synchronous request per batch, the
simplest way to run it: splitting a batch over two streams measured no faster on these CPUs
(docs/benchmarks.md, "Inference engines").
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np

from tagger.arrays import FloatArray
from tagger.inference import ServingModel, window_predictions
from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, read_metadata
from tagger.predictions import WindowPrediction

# OpenVINO falls back to its built-in no-op telemetry when `openvino_telemetry` cannot be imported.
# Its real telemetry tries the network on import and on conversion: offline that costs seconds per
# conversion and at process exit, and a tagging service has no business reporting usage anyway.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

import openvino as ov  # noqa: E402 (must come after switching telemetry off)


def compile_for_cpu(version_dir: Path, *, threads: int) -> ov.CompiledModel:
    """The SavedModel converted in memory and compiled for the CPU in float32, for one request at a time."""
    return ov.Core().compile_model(
        ov.convert_model(str(version_dir)),
        "CPU",
        {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            # Some CPUs would otherwise run in bfloat16 and move scores far beyond TensorFlow parity.
            "INFERENCE_PRECISION_HINT": "f32",
        },
    )


class OpenVINOModel(ServingModel):
    """One exported model version compiled for OpenVINO's CPU plugin with `threads` threads."""

    engine = "openvino"
    device = "/CPU:0"  # the device names TensorFlow uses, which the API reports

    def __init__(self, version_dir: Path, *, threads: int) -> None:
        self.metadata = read_metadata(version_dir)
        self._request = compile_for_cpu(version_dir, threads=threads).create_infer_request()
        self._lock = threading.Lock()  # the request is reused: one batch at a time per model

    def predict(self, windows: list[FloatArray]) -> list[WindowPrediction]:
        batch = np.stack(windows).astype(np.float32, copy=False)
        with self._lock:
            self._request.infer({0: batch})
            # Copies: the request's output memory is reused by the next batch.
            scores = self._request.get_tensor(SCORES_OUTPUT).data.copy()
            embeddings = self._request.get_tensor(EMBEDDING_OUTPUT).data.copy()
        return window_predictions(scores, embeddings)
