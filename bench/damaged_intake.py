"""Clean files through the resilient intake (packet by packet, issue 13) and through the intake before it.

The earlier intake is read from git (`BEFORE`, the commit before issue 13) into a module of its
own, so both are measured on the same files in the same run, interleaved, and only the ratio is
compared. Also times the damaged corpus, which the earlier intake refused.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from bench.report import markdown_table
from support.audio_files import make_audio
from support.damaged_audio import damaged_files
from support.debian_music import debian_music
from tagger.audio import load_audio

TITLE = "Intake on clean files: packet-by-packet decoding (issue 13) vs before"
BEFORE = "b646436"  # the commit before issue 13: the whole-stream decode loop
RATE = 16_000
RUNS = 15
FORMATS = ["wav", "flac", "ogg", "mp3", "m4a"]
REPO = Path(__file__).resolve().parents[1]


def _intake_before(directory: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:tagger/audio.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    path = directory / "audio_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("audio_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audio_before"] = module
    spec.loader.exec_module(module)
    return module


def _interleaved(path: Path, before: ModuleType) -> tuple[list[float], list[float]]:
    """CPU seconds per decode, now and before, alternating so that other load hits both alike."""
    now_times: list[float] = []
    before_times: list[float] = []
    for decode in (load_audio, before.load_audio):  # warm-up
        decode(path, sample_rate=RATE)
    pairs = [(load_audio, now_times), (before.load_audio, before_times)]
    for run in range(RUNS):
        for decode, times in pairs if run % 2 else pairs[::-1]:  # each goes first every other run
            started = time.process_time()
            decode(path, sample_rate=RATE)
            times.append(time.process_time() - started)
    return now_times, before_times


def _decodes(intake: ModuleType, path: Path) -> bool:
    try:
        intake.load_audio(path, sample_rate=RATE)
    except ValueError:  # the earlier intake's AudioError (a ValueError, from the earlier module)
        return False
    return True


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        before = _intake_before(directory)
        files = [make_audio(directory / f"30s.{ext}", seconds=30, channels=2) for ext in FORMATS]
        files.append(make_audio(directory / "4min.mp3", seconds=240, channels=2))
        rows, ratios = [], []
        for path in files:
            now_times, before_times = _interleaved(path, before)
            ratio = statistics.median(now_times) / statistics.median(before_times)
            ratios.append(ratio)
            rows.append(
                [
                    f"{path.name} (44.1 kHz stereo)",
                    f"{statistics.median(now_times) * 1e3:.1f} ms",
                    f"{statistics.median(before_times) * 1e3:.1f} ms",
                    f"{ratio:.3f}×",
                ]
            )
        corpus = damaged_files(directory / "damaged", debian_music()[0])
        started = time.perf_counter()
        for file in corpus.values():
            load_audio(file.path, sample_rate=RATE)
        damaged_ms = (time.perf_counter() - started) / len(corpus) * 1e3
        refused_before = sum(not _decodes(before, file.path) for file in corpus.values())
    return (
        f"Median process CPU time of {RUNS} decodes + resamples to 16 kHz mono; the two intakes alternate "
        "on each file (CPU time, not wall time: the machine is shared, and other processes' load moves "
        "CPU time least).\n\n"
        + markdown_table(["file", "now (packet by packet)", f"before ({BEFORE})", "now / before"], rows)
        + f"\n\nGeometric mean of the ratios: {statistics.geometric_mean(ratios):.3f}× (per file "
        f"{min(ratios):.2f}–{max(ratios):.2f}×; on a shared machine such spreads move between runs). "
        f"The {len(corpus)} files of the damaged corpus (12 s each, tests/support/damaged_audio.py), "
        f"take {damaged_ms:.0f} ms each on average now; the earlier intake refused {refused_before} of them."
    )
