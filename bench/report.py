"""Shared plumbing for benchmarks: timing, summaries, machine facts, targets, rewriting docs/benchmarks.md.

Each benchmark owns a section delimited by `<!-- bench:NAME -->` … `<!-- /bench:NAME -->`; rerunning a
benchmark replaces its section and leaves the others alone. A benchmark that measures one of the
issue's targets writes a `target_line` into its section; the `targets` section is then rebuilt from
every section's target lines, so it always summarises the numbers printed below it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
TARGETS_SECTION = "targets"
T = TypeVar("T")
_TARGET_MARKER = re.compile(r"<!-- target (\{.*?\}) -->")


def repeat(fn: Callable[[], object], *, runs: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `runs` calls after `warmup` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@dataclass(frozen=True)
class Timing:
    """Wall-clock and process CPU seconds of one call.

    On a shared machine wall time also counts the time other processes held the cores; the
    process's CPU time (all its threads) does not, so ratios of CPU time are the steadier measure.
    """

    wall: float
    cpu: float


def measured(fn: Callable[[], T]) -> tuple[Timing, T]:
    """The time of one call of `fn`, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), value


def timed(fn: Callable[[], object]) -> Timing:
    return measured(fn)[0]


def spread(values: list[float], *, scale: float = 1.0, digits: int = 0) -> str:
    """`median (min–max)` of `values` × `scale`, with `digits` decimals."""
    scaled = [value * scale for value in values]
    median, low, high = statistics.median(scaled), min(scaled), max(scaled)
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def median_spread(times: list[float]) -> str:
    """`median (min–max)` in milliseconds."""
    return f"{statistics.median(times) * 1e3:.0f} ms ({min(times) * 1e3:.0f}–{max(times) * 1e3:.0f})"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table: one header row, then one row per list of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("tensorflow", "keras", "numpy", "av", "soxr", "soundfile")
    )
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets as a benchmark measured it."""

    goal: str  # e.g. "≥ 10× musicnn's own tagger, end to end through HTTP"
    measured: str  # the number, with its spread
    met: bool
    note: str  # by how much it is missed or beaten, and why


def target_line(target: Target) -> str:
    """A visible verdict plus a marker the `targets` summary is rebuilt from."""
    verdict = "met" if target.met else "**missed**"
    return (
        f"<!-- target {json.dumps(asdict(target), ensure_ascii=False)} -->\n"
        f"**Target** {target.goal}: {target.measured}, {verdict}. {target.note}"
    )


def targets_summary(markdown: str) -> str:
    """The table of every target line found in `markdown`, in document order."""
    rows = []
    for marker in _TARGET_MARKER.finditer(markdown):
        target = Target(**json.loads(marker.group(1)))
        rows.append(
            f"| {target.goal} | {target.measured} | {'met' if target.met else '**missed**'} | {target.note} |"
        )
    if not rows:
        return "No benchmark has measured a target yet: run `python -m bench`."
    return (
        "Each row is copied from the section that measured it (rerun that benchmark to refresh it).\n\n"
        "| target | measured | verdict | why |\n|---|---|---|---|\n" + "\n".join(rows)
    )


def write_section(name: str, title: str, body: str, *, load: tuple[float, float] | None = None) -> None:
    """Replace (or append) the section `name` of docs/benchmarks.md with a dated, reproducible block.

    `load` is the 1-minute load average before and after the run: on a shared machine it says how
    much the numbers may have been disturbed.
    """
    stamp = datetime.date.today().isoformat()
    load_text = "" if load is None else f" Load average {load[0]:.1f} before, {load[1]:.1f} after."
    block = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Measured {stamp} on {machine()}.{load_text}\n"
        f"Command: `PYTHONPATH=tests python -m bench {name}`.\n\n"
        f"{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    BENCHMARKS_MD.parent.mkdir(exist_ok=True)
    BENCHMARKS_MD.write_text(text)


def write_targets_summary() -> None:
    """Rebuild the `targets` section from the target lines of every other section."""
    text = BENCHMARKS_MD.read_text()
    pattern = re.compile(rf"<!-- bench:{TARGETS_SECTION} -->.*?<!-- /bench:{TARGETS_SECTION} -->", re.S)
    block = (
        f"<!-- bench:{TARGETS_SECTION} -->\n## Targets\n\n{targets_summary(pattern.sub('', text))}\n"
        f"<!-- /bench:{TARGETS_SECTION} -->"
    )
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    BENCHMARKS_MD.write_text(text)
