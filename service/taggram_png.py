"""Draw a taggram (tags × time heatmap) as a PNG.

Uses matplotlib's object API on an Agg canvas, not pyplot: no global figure state, so several
threads can render at once. matplotlib is imported on the first PNG, not at start-up, where it cost
about half a second of every server start (docs/benchmarks.md, "Start-up and memory per engine").
"""

from __future__ import annotations

import io

import numpy as np

INCHES_PER_TAG = 0.22
MIN_HEIGHT_INCHES = 3.0
WIDTH_INCHES = 10.0
DPI = 100


def render_taggram_png(
    *, tags: list[str], times: np.ndarray, window_seconds: float, scores: np.ndarray, title: str
) -> bytes:
    """PNG bytes of `scores` (n_windows, n_tags) with one row per tag and time in seconds along x."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height = max(MIN_HEIGHT_INCHES, 1.5 + INCHES_PER_TAG * len(tags))
    figure = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Each column spans its window's start to the next start (or the window's end for the last one).
    edges = np.append(times, times[-1] + window_seconds)
    image = axes.pcolormesh(edges, np.arange(len(tags) + 1), scores.T, cmap="magma", vmin=0.0, vmax=1.0)
    axes.set_yticks(np.arange(len(tags)) + 0.5, labels=tags, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("time (s)")
    axes.set_ylabel("tag")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="score")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
