"""Start-up and memory per engine: process start to /readyz, to the batch CLI's first result, and peak RSS.

Each engine (`TAGGER_ENGINE=openvino`, the CPU default, and `tensorflow`) starts a real server
(`python -m service` with only MSD_musicnn, timed from spawning the process to the first 200 from
/readyz, then one POST /tag of a 30 s MP3) and runs the batch CLI over one 30 s MP3 as a whole
process (its first and only result, then exit). Runs alternate between the engines. Peak RSS is the
kernel's high-water mark of the process (VmHWM, sampled until the CLI exits). The installed
size of each engine's Python packages says what a CPU-only serving image could leave out.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import httpx

from bench.report import markdown_table, spread
from bench.serving import DEFAULT_MODEL, models_dir, post_tag, running_server
from bench.songs import real_excerpts, song_variants

TITLE = "Start-up and memory per engine"
ENGINES = ("openvino", "tensorflow")
ROUNDS = 3
REPO = Path(__file__).resolve().parent.parent
# What each engine adds to the environment (the TensorFlow list is what only TF serving would need).
ENGINE_PACKAGES = {
    "openvino": ["openvino", "openvino_telemetry"],
    "tensorflow": ["tensorflow", "tensorflow_io", "tensorflow_io_gcs_filesystem", "keras", "tf_keras"],
}


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def server_run(engine: str, song: Path, scratch: Path) -> tuple[float, float, float]:
    """Seconds from spawn to /readyz, peak RSS when ready and after one POST /tag (MiB)."""
    started = time.perf_counter()
    with running_server(scratch, {"TAGGER_ENGINE": engine}) as server:
        ready = time.perf_counter() - started
        assert server.process is not None
        rss_ready = peak_rss_mib(server.process.pid)
        with httpx.Client(base_url=server.base_url, timeout=600) as http:
            post_tag(http, song)
        return ready, rss_ready, peak_rss_mib(server.process.pid)


def cli_run(engine: str, song: Path, db: Path) -> tuple[float, float]:
    """Whole-process seconds and peak RSS (MiB, VmHWM read until it exits) of the batch CLI on one file.

    Not `wait4`'s ru_maxrss: it also counts the pages the child shared with this process before exec.
    """
    command = [sys.executable, "-m", "batch", "tag", str(song), "--db", str(db)]
    command += ["--models-dir", str(models_dir()), "--model", DEFAULT_MODEL]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TAGGER_ENGINE": engine}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0.0
    while process.poll() is None:
        try:
            peak = max(peak, peak_rss_mib(process.pid))
        except (OSError, StopIteration):  # exiting: /proc entry gone or already a zombie without VmHWM
            pass
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"the batch CLI exited with {process.returncode} on {engine}")
    return seconds, peak


def installed_mib(packages: list[str]) -> float:
    site = Path(sysconfig.get_paths()["purelib"])
    files = (path for name in packages if (site / name).exists() for path in (site / name).rglob("*"))
    return sum(path.stat().st_size for path in files if path.is_file()) / 2**20


def run() -> str:
    results: dict[str, dict[str, list[float]]] = {engine: {} for engine in ENGINES}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        base = real_excerpts(scratch, 30.0, count=1)[0]
        songs = iter(song_variants(base, 2 * ROUNDS * len(ENGINES)))
        for round_number in range(ROUNDS):
            for engine in ENGINES if round_number % 2 == 0 else tuple(reversed(ENGINES)):
                run_dir = scratch / f"{engine}-{round_number}"
                ready, rss_ready, rss_tagged = server_run(engine, next(songs), run_dir)
                cli_seconds, cli_rss = cli_run(engine, next(songs), run_dir / "cli.db")
                for key, value in {
                    "ready": ready,
                    "rss_ready": rss_ready,
                    "rss_tagged": rss_tagged,
                    "cli": cli_seconds,
                    "cli_rss": cli_rss,
                }.items():
                    results[engine].setdefault(key, []).append(value)
    rows = []
    for engine in ENGINES:
        measured = results[engine]
        rows.append(
            [
                "OpenVINO (default on CPU)" if engine == "openvino" else "TensorFlow",
                spread(measured["ready"], digits=1),
                spread(measured["cli"], digits=1),
                spread(measured["rss_ready"]),
                spread(measured["rss_tagged"]),
                spread(measured["cli_rss"]),
                f"{installed_mib(ENGINE_PACKAGES[engine]):,.0f} ({', '.join(ENGINE_PACKAGES[engine])})",
            ]
        )
    ov, tf = {
        engine: {key: statistics.median(v) for key, v in results[engine].items()} for engine in ENGINES
    }.values()
    ratio = (
        f"OpenVINO reaches /readyz {tf['ready'] / ov['ready']:.1f}× sooner, finishes the one-file CLI "
        f"run {tf['cli'] / ov['cli']:.1f}× sooner and the server peaks at {ov['rss_tagged']:.0f} MiB "
        f"instead of {tf['rss_tagged']:.0f} MiB. A CPU-only serving image needs only OpenVINO's packages; "
        "the TensorFlow ones are needed to train, export and port models (a build stage can do that)."
    )
    table = markdown_table(
        [
            "engine",
            "spawn → /readyz s",
            "batch CLI, one 30 s MP3, whole process s",
            "server peak RSS ready, MiB",
            "server peak RSS after POST /tag, MiB",
            "CLI peak RSS, MiB",
            "installed MiB (packages)",
        ],
        rows,
    )
    return (
        f"Model `{DEFAULT_MODEL}` only; a 30 s excerpt of a real recording (44.1 kHz stereo MP3), a new copy "
        f"per run. Median (min–max) of {ROUNDS} runs per engine, engines alternating.\n\n{table}\n\n{ratio}"
    )
