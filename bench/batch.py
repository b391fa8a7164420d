"""Catalogue tagging throughput: the batch CLI and the Beam pipeline on the same files and model.

Both tools run as they would for a user (`python -m batch tag …`,
`python -m batch.beam_pipeline …` on the local runner), each into a fresh store, on the same
30 s MP3s (44.1 kHz stereo, every file different audio). End to end includes starting Python,
importing TensorFlow and loading the model, which a long run pays once; the CLI also reports its
own rate from the first file to the last. A second CLI run over the same store measures the cost
of resuming (hash + lookup per file, nothing decoded). Runs alternate between the tools so that a
drift in the shared machine's load does not favour one.

Models come from TAGGER_MODELS_DIR (default `saved_models/`): MSD_musicnn.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from support.audio_files import make_audio
from tagger.settings import Settings

TITLE = "Batch tagging throughput"
MODEL = "MSD_musicnn"
NUM_FILES = 20
SONG_SECONDS = 30.0
ROUNDS = 2
CLI = "batch CLI (`python -m batch tag`)"
BEAM = "Beam on FnApiRunner (`python -m batch.beam_pipeline`)"
REPO = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    wall_seconds: float  # the whole process
    inner_seconds: float | None  # first file to last, when the tool reports it


def run() -> str:
    models_dir = Settings().models_dir
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        folder = Path(scratch) / "music"
        folder.mkdir()
        durations = [SONG_SECONDS + i / 100 for i in range(NUM_FILES)]  # every file different audio
        for i, seconds in enumerate(durations):
            make_audio(folder / f"{i:02d}.mp3", seconds=seconds, channels=2)
        results: dict[str, list[Run]] = {CLI: [], BEAM: []}
        resumes: list[Run] = []
        for round_number in range(ROUNDS):
            out = Path(scratch) / f"round-{round_number}"
            out.mkdir()
            tools = {
                CLI: partial(_cli, folder, out / "cli.db", models_dir),
                BEAM: partial(_beam, folder, out, models_dir),
            }
            for name in sorted(tools, reverse=bool(round_number % 2)):  # alternate which tool goes first
                logger.info("round %d: %s", round_number + 1, name)
                results[name].append(tools[name]())
            resumes.append(_cli(folder, out / "cli.db", models_dir))
    return _report(results, resumes, audio_seconds=sum(durations))


def _cli(folder: Path, db: Path, models_dir: Path) -> Run:
    started = time.perf_counter()
    done = _run(
        [
            sys.executable,
            "-m",
            "batch",
            "tag",
            str(folder),
            "--db",
            str(db),
            "--models-dir",
            str(models_dir),
            "--model",
            MODEL,
        ]
    )
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout.splitlines()[-1])
    if summary["failed"]:
        raise RuntimeError(f"the CLI failed on {summary['failed']} files:\n{done.stderr[-3000:]}")
    return Run(wall, summary["seconds"])


def _beam(folder: Path, out: Path, models_dir: Path) -> Run:
    started = time.perf_counter()
    _run(
        [
            sys.executable,
            "-m",
            "batch.beam_pipeline",
            "--input",
            str(folder / "*.mp3"),
            "--output",
            str(out / "tags"),
            "--models-dir",
            str(models_dir),
            "--model",
            MODEL,
        ]
    )
    wall = time.perf_counter() - started
    rows = sum(1 for shard in out.glob("tags-*.jsonl") for _ in shard.open())
    if rows != NUM_FILES:
        raise RuntimeError(f"the Beam pipeline wrote {rows} rows for {NUM_FILES} files")
    return Run(wall, None)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:3])} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done


def _report(results: dict[str, list[Run]], resumes: list[Run], *, audio_seconds: float) -> str:
    lines = [
        f"Model: `{MODEL}` (16 kHz, 3 s windows, no overlap), {NUM_FILES} different {SONG_SECONDS:g} s MP3s "
        f"(44.1 kHz stereo, {audio_seconds / 60:.1f} min of audio), default settings (decode threads and TF "
        f"threads = CPUs, batches of up to 16 windows). Median of {ROUNDS} runs per tool, tools alternating; "
        "the machine is shared with other work, so expect ±30 % between runs.",
        "",
        "| tool | measured over | seconds | tracks/hour | audio-hours/hour |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        lines.append(
            _row(name, "whole process", statistics.median(r.wall_seconds for r in runs), audio_seconds)
        )
        inner = [r.inner_seconds for r in runs if r.inner_seconds is not None]
        if inner:
            lines.append(_row(name, "first file to last", statistics.median(inner), audio_seconds))
    resume = statistics.median(r.inner_seconds for r in resumes if r.inner_seconds is not None)
    lines += [
        "",
        f"Resuming a finished run (every file hashed, found in the store, skipped): {resume:.2f} s for "
        f"{NUM_FILES} files ({NUM_FILES / resume:.0f} files/s), after the same start-up.",
    ]
    return "\n".join(lines)


def _row(name: str, span: str, seconds: float, audio_seconds: float) -> str:
    tracks_per_hour = NUM_FILES / seconds * 3600
    audio_hours_per_hour = audio_seconds / seconds
    return f"| {name} | {span} | {seconds:.1f} | {tracks_per_hour:,.0f} | {audio_hours_per_hour:.1f} |"
