"""Essentia, the CPU tagger our users would otherwise pick, against our batch CLI and POST /tag.

Same weights on both sides: musicnn's MSD checkpoint, frozen by `bench/freeze_musicnn.py` into the
graph Essentia's `TensorflowPredictMusiCNN` runs (Essentia's own model files cannot be downloaded
here), and our port of it (`saved_models/MSD_musicnn`). Essentia runs in a virtualenv of its own,
built here (`.cache/essentia-venv`, `essentia-tensorflow` pinned as docs/stack notes), through
`bench/essentia_tagger.py`. Same files, same 3 s non-overlapping windows, alternating runs:

- catalogue: a whole process over a folder of real recordings (start-up included), Essentia's
  script against `python -m batch tag` with its defaults (OpenVINO) and forced onto TensorFlow;
- interactive: one 4-minute MP3 in a warm process, Essentia in-process (decode + predict) against
  POST /tag on a warm server with its defaults (each POST a new copy, so none is answered from the store).

Parity: our song-level scores against the mean of Essentia's patch scores, and taggram rows.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.peer_worker import PeerWorker
from bench.report import Target, markdown_table, spread, target_line
from bench.serving import DEFAULT_MODEL, models_dir, post_tag, running_server
from bench.songs import real_excerpts, song_variants

TITLE = "Peers: Essentia on the same weights"
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"
ESSENTIA_VENV = CACHE / "essentia-venv"
# essentia-tensorflow publishes only pre-releases; this one has a cp311 wheel bundling libtensorflow 2.5.
ESSENTIA_PACKAGES = ["essentia-tensorflow==2.1b6.dev1389", "numpy==2.4.6", "pyyaml==6.0.4", "six==1.17.0"]
# The interpreter this venv was made from: Python 3.11, which the pinned wheel is built for.
BASE_PYTHON = str(Path(sys.base_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}"))
GRAPH = CACHE / "essentia-graphs" / f"{DEFAULT_MODEL}.pb"
CATALOGUE_STARTS = (20.0, 80.0, 140.0, 200.0)  # seconds into each Debian track
CATALOGUE_FILES, CATALOGUE_SECONDS = 10, 59.0
CATALOGUE_ROUNDS, INTERACTIVE_ROUNDS = 2, 5
ESSENTIA = "Essentia script (`MonoLoader` + `TensorflowPredictMusiCNN`)"
CLI = "batch CLI, default engine (OpenVINO)"
CLI_TF = "batch CLI, `TAGGER_ENGINE=tensorflow`"
CATALOGUE_TARGET, INTERACTIVE_TARGET = 2.0, 0.5

logger = logging.getLogger(__name__)


def essentia_python() -> Path:
    """The Essentia venv's interpreter, creating the venv with the pinned packages when missing."""
    python, marker = ESSENTIA_VENV / "bin" / "python", ESSENTIA_VENV / "installed.txt"
    if not marker.exists() or marker.read_text().split() != ESSENTIA_PACKAGES:
        logger.info("building Essentia's virtualenv in %s", ESSENTIA_VENV)
        subprocess.run([BASE_PYTHON, "-m", "venv", "--clear", str(ESSENTIA_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *ESSENTIA_PACKAGES], check=True)
        marker.write_text("\n".join(ESSENTIA_PACKAGES))
    return python


def frozen_graph() -> Path:
    """musicnn's MSD checkpoint frozen for Essentia (built once, in a tf-keras process of its own)."""
    if not GRAPH.exists():
        GRAPH.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        freezer = str(REPO / "bench" / "freeze_musicnn.py")
        subprocess.run([sys.executable, freezer, DEFAULT_MODEL, str(GRAPH)], check=True, env=env)
    return GRAPH


def essentia_command(mode: str, *paths: Path) -> list[str]:
    script = str(REPO / "bench" / "essentia_tagger.py")
    return [str(essentia_python()), script, mode, str(frozen_graph()), *map(str, paths)]


def catalogue_files(directory: Path) -> list[Path]:
    """`CATALOGUE_FILES` different excerpts of the real recordings, encoded as uploads are."""
    files = [
        path
        for start in CATALOGUE_STARTS
        for path in real_excerpts(directory, CATALOGUE_SECONDS, start=start)
    ]
    for extra in files[CATALOGUE_FILES:]:  # the batch CLI tags the whole folder
        extra.unlink()
    return files[:CATALOGUE_FILES]


@dataclass
class Catalogue:
    """Whole-process seconds per tool, and each tool's song-level scores per file (last run)."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def run_catalogue(folder: Path, files: list[Path], scratch: Path) -> Catalogue:
    result = Catalogue()
    tools: dict[str, Callable[[Path], dict[str, np.ndarray]]] = {
        ESSENTIA: lambda _: essentia_folder(files),
        CLI: lambda out: batch_cli(folder, out, {}),
        CLI_TF: lambda out: batch_cli(folder, out, {"TAGGER_ENGINE": "tensorflow"}),
    }
    for round_number in range(CATALOGUE_ROUNDS):
        order = list(tools) if round_number % 2 == 0 else list(reversed(tools))
        for name in order:
            out = scratch / f"round-{round_number}-{len(result.seconds.get(name, []))}-{order.index(name)}"
            out.mkdir()
            started = time.perf_counter()
            result.scores[name] = tools[name](out)
            result.seconds.setdefault(name, []).append(time.perf_counter() - started)
            logger.info("round %d: %s %.1f s", round_number + 1, name, result.seconds[name][-1])
    return result


def essentia_folder(files: list[Path]) -> dict[str, np.ndarray]:
    done = subprocess.run(essentia_command("folder", *files), capture_output=True, text=True, check=True)
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {Path(a["path"]).name: np.asarray(a["taggram"], np.float32).mean(axis=0) for a in answers}


def batch_cli(folder: Path, out: Path, env: dict[str, str]) -> dict[str, np.ndarray]:
    export = out / "songs.jsonl"
    command = [sys.executable, "-m", "batch", "tag", str(folder), "--db", str(out / "cli.db")]
    command += ["--models-dir", str(models_dir()), "--model", DEFAULT_MODEL, "--export", str(export)]
    subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
        capture_output=True,
        check=True,
    )
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    return {Path(row["path"]).name: np.asarray(row["scores"], np.float32) for row in rows}


@dataclass(frozen=True)
class Interactive:
    song: str
    duration: float
    essentia: list[float]
    ours: list[float]
    max_row_difference: float
    max_score_difference: float


def run_interactive(song: Path, scratch: Path) -> Interactive:
    """Alternating runs of warm Essentia and POST /tag (a new copy of `song` each time)."""
    variants = iter(song_variants(song, INTERACTIVE_ROUNDS + 1))
    worker = PeerWorker(essentia_command("serve"), name="the Essentia worker")
    essentia, ours, rows, scores, duration = [], [], 0.0, 0.0, 0.0
    try:
        with running_server(scratch) as server, httpx.Client(base_url=server.base_url, timeout=600) as http:
            worker.tag(song)  # warm both: graph and model loaded, first runs done
            post_tag(http, next(variants))
            for round_number in range(INTERACTIVE_ROUNDS):
                for side in ("ours", "essentia") if round_number % 2 else ("essentia", "ours"):
                    if side == "essentia":
                        seconds, taggram = worker.tag(song)
                        essentia.append(seconds)
                    else:
                        seconds, answer = post_tag(http, next(variants))
                        ours.append(seconds)
                ours_taggram = np.asarray(http.get(answer["taggram_url"]).raise_for_status().json()["scores"])
                shared = min(len(ours_taggram), len(taggram))
                rows = max(rows, float(np.abs(ours_taggram[:shared] - taggram[:shared]).max()))
                scores = max(scores, float(np.abs(np.asarray(answer["scores"]) - taggram.mean(axis=0)).max()))
                duration = answer["duration"]
    finally:
        worker.close()
    logger.info(
        "interactive: Essentia %.2f s, POST /tag %.2f s", statistics.median(essentia), statistics.median(ours)
    )
    return Interactive(song.name, duration, essentia, ours, rows, scores)


def run() -> str:
    essentia_python(), frozen_graph()  # built before anything is timed
    with tempfile.TemporaryDirectory(prefix="bench-essentia-") as tmp:
        scratch = Path(tmp)
        folder = scratch / "catalogue"
        folder.mkdir()
        files = catalogue_files(folder)
        audio_seconds = CATALOGUE_SECONDS * len(files)
        catalogue = run_catalogue(folder, files, scratch)
        song = real_excerpts(scratch, 240.0, count=1)[0]
        interactive = run_interactive(song, scratch / "server")
    return report(catalogue, interactive, audio_seconds=audio_seconds, files=len(files))


def song_difference(catalogue: Catalogue, tool: str) -> float:
    """The largest difference between `tool`'s song-level scores and Essentia's, over every file and tag."""
    reference = catalogue.scores[ESSENTIA]
    return max(
        float(np.abs(catalogue.scores[tool][name] - scores).max()) for name, scores in reference.items()
    )


def report(catalogue: Catalogue, interactive: Interactive, *, audio_seconds: float, files: int) -> str:
    setup = (
        f"Model: `{DEFAULT_MODEL}` weights on both sides (musicnn 0.1.0's checkpoint: frozen for Essentia "
        "by `bench/freeze_musicnn.py`, ported for us). Essentia: `essentia-tensorflow` "
        f"{ESSENTIA_PACKAGES[0].split('==')[1]} in its own venv, "
        "`MonoLoader(sampleRate=16000, resampleQuality=4)`, `TensorflowPredictMusiCNN(patchHopSize=187, "
        "batchSize=64)` (`bench/essentia_tagger.py`). Ours: defaults, so the model's own hop (187 frames, "
        "the same windows). Files: excerpts of Debian's `asc-music` recordings as 44.1 kHz stereo "
        "192 kbit/s MP3s. Runs alternate between the tools."
    )
    essentia = statistics.median(catalogue.seconds[ESSENTIA])
    rows = []
    for name, seconds in catalogue.seconds.items():
        median = statistics.median(seconds)
        parity = "reference" if name == ESSENTIA else f"{song_difference(catalogue, name):.3f}"
        rows.append(
            [
                name,
                spread(seconds, digits=1),
                f"{audio_seconds / median:.1f}",
                f"{essentia / median:.2f}×",
                parity,
            ]
        )
    catalogue_table = markdown_table(
        [
            "tool",
            "whole process s",
            "audio s per s",
            "throughput vs Essentia",
            "max song-score difference vs Essentia",
        ],
        rows,
    )
    cli = statistics.median(catalogue.seconds[CLI])
    catalogue_target = Target(
        goal=f"batch CLI whole process ≥ {CATALOGUE_TARGET:g}× Essentia's throughput (same weights)",
        measured=(
            f"{essentia / cli:.2f}× ({cli:.1f} s vs {essentia:.1f} s for {files} files, "
            f"{audio_seconds / 60:.1f} min)"
        ),
        met=essentia / cli >= CATALOGUE_TARGET,
        note=f"On TensorFlow the CLI takes {statistics.median(catalogue.seconds[CLI_TF]):.1f} s.",
    )
    ours, theirs = statistics.median(interactive.ours), statistics.median(interactive.essentia)
    interactive_table = markdown_table(
        [
            "file",
            "audio",
            "Essentia in-process s",
            "POST /tag s",
            "ratio",
            "max taggram-row difference",
            "max song-score difference",
        ],
        [
            [
                interactive.song,
                f"{interactive.duration:.0f} s",
                spread(interactive.essentia, digits=2),
                spread(interactive.ours, digits=2),
                f"{ours / theirs:.2f}",
                f"{interactive.max_row_difference:.3f}",
                f"{interactive.max_score_difference:.3f}",
            ]
        ],
    )
    interactive_target = Target(
        goal="POST /tag p50 on a 4-minute MP3 (warm server) ≤ half of Essentia's in-process time",
        measured=f"{ours / theirs:.2f} of Essentia's ({ours:.2f} s vs {theirs:.2f} s)",
        met=ours <= INTERACTIVE_TARGET * theirs,
        note="POST /tag includes the HTTP upload, hashing and storing; Essentia's time is decode + predict.",
    )
    parity = (
        "Score differences come from the front ends, not the network: Essentia resamples with its own "
        "resampler and computes its mel spectrogram in C++, we resample with soxr and run Kapre's in the "
        "graph; its last partial patch is discarded, ours is zero-padded and kept."
    )
    return "\n\n".join(
        [
            setup,
            f"**Catalogue**: {files} files ({audio_seconds / 60:.1f} min), each tool as a whole process, "
            f"median (min–max) of {CATALOGUE_ROUNDS} runs.",
            catalogue_table,
            target_line(catalogue_target),
            f"**Interactive**: one 4-minute MP3 in a warm process, median (min–max) of {INTERACTIVE_ROUNDS} "
            "runs.",
            interactive_table,
            target_line(interactive_target),
            parity,
        ]
    )
