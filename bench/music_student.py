"""The music student's cost against its four teachers, side by side in one run, on one thread.

Every model runs through `tagger.inference.ServingModel` (the server's code path) on the same batch
of 16 windows (48,128 samples at 16 kHz, the grid all five share), with one intra-op and one
inter-op thread. The calls are interleaved round by round (student,
MSD_musicnn, MSD_vgg, MTT_musicnn, MTT_vgg, then again), so background load hits every model alike;
the cost is the process's CPU time per second of audio, and ratios are taken within a round.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np

from bench.report import Target, markdown_table, measured, target_line
from tagger.repository import ModelRepository, load_model
from tagger.settings import Runtime

TITLE = "Music student: cost against its four teachers"
STUDENT = "music_student"
TEACHERS = ("MSD_musicnn", "MSD_vgg", "MTT_musicnn", "MTT_vgg")
BATCH = 16
ROUNDS = 7
COST_TARGET = 0.25  # of one MSD_musicnn


def run() -> str:
    runtime = Runtime(intra_op_threads=1, inter_op_threads=1)  # the serving engine this machine picks
    repository = ModelRepository(Path(os.environ.get("TAGGER_MODELS_DIR", "saved_models")))
    models = {name: load_model(repository.resolve(name).path, runtime) for name in (STUDENT, *TEACHERS)}
    window_samples = models[STUDENT].metadata.window_samples
    audio_seconds = BATCH * models[STUDENT].metadata.window_seconds
    windows = list(np.random.default_rng(0).normal(0, 0.1, (BATCH, window_samples)).astype(np.float32))
    for model in models.values():
        model.predict(windows)  # build the kernels for this shape
    cpu_ms: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(ROUNDS):
        for name, model in models.items():
            timing, _ = measured(lambda m=model: m.predict(windows))  # type: ignore[misc]
            cpu_ms[name].append(1000 * timing.cpu / audio_seconds)
    all_four = [sum(cpu_ms[t][r] for t in TEACHERS) for r in range(ROUNDS)]
    ratio_to = {
        name: statistics.median(cpu_ms[STUDENT][r] / cpu_ms[name][r] for r in range(ROUNDS))
        for name in TEACHERS
    }
    ratio_all = statistics.median(cpu_ms[STUDENT][r] / all_four[r] for r in range(ROUNDS))
    rows = [
        [
            name,
            f"{statistics.median(ms):.2f} ({min(ms):.2f}–{max(ms):.2f})",
            "1" if name == STUDENT else f"{ratio_to[name]:.3f}",
        ]
        for name, ms in cpu_ms.items()
    ]
    rows.append(["all four teachers", f"{statistics.median(all_four):.2f}", f"{ratio_all:.3f}"])
    ratio = ratio_to["MSD_musicnn"]
    target = Target(
        goal=f"music student ≤ {COST_TARGET:g} of one MSD_musicnn's CPU cost (cost half of the target)",
        measured=f"{ratio:.3f}× MSD_musicnn, {ratio_all:.3f}× all four teachers",
        met=ratio <= COST_TARGET,
        note="CPU time per audio second, one thread; the agreement half: docs/noisy-student.md",
    )
    return "\n\n".join(
        [
            f"{ROUNDS} interleaved rounds of a {BATCH}-window batch ({audio_seconds:.1f} s of audio) "
            "per model, one thread.",
            markdown_table(
                ["model", "CPU ms per audio second, median (min–max)", "student ÷ model (median of rounds)"],
                rows,
            ),
            target_line(target),
        ]
    )
