"""How well a student agrees with its teachers, per vocabulary, at window and song level.

There are no human labels for the pool, so the teachers' scores are the reference. They are
binarised per tag: a window (or song) is a positive of a tag when the teachers' score is in the top
quarter of that tag's scores on the evaluation set (`TOP_FRACTION`). The student's scores are then
ranked against those labels (macro ROC-AUC and PR-AUC, `training.evaluate.tag_metrics`), and the
mean |student − teacher| says how close the raw scores are. A paired bootstrap over songs (a
resampled song keeps its own labels and scores, and all of its windows) gives 95% intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.evaluate import tag_metrics

TOP_FRACTION = 0.25


def binarise(teacher: np.ndarray) -> np.ndarray:
    """1 where a row's score is in the top `TOP_FRACTION` of its column (ties at the cut included)."""
    cut = np.quantile(teacher, 1 - TOP_FRACTION, axis=0, keepdims=True)
    return (teacher >= cut).astype(np.float32)


def song_means(scores: np.ndarray, track_index: np.ndarray) -> np.ndarray:
    """(n_tracks, n_tags): the mean of each track's window scores, the service's song vector."""
    tracks = np.unique(track_index)
    return np.stack([scores[track_index == t].mean(axis=0) for t in tracks])


def agreement(
    teacher: np.ndarray,
    student: np.ndarray,
    track_index: np.ndarray,
    vocabularies: dict[str, tuple[int, int]],
    *,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """{vocabulary: {level: {roc_auc, pr_auc, mean_abs_diff, *_interval}}} for windows and songs.

    `resamples` = 0 skips the bootstrap (about 400 per-tag AUCs per resample: the slow part).
    """
    songs = np.unique(track_index)
    rows_of = [np.flatnonzero(track_index == song) for song in songs]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(len(songs), size=len(songs)) for _ in range(resamples)]
    result: dict[str, Any] = {}
    for name, (first, end) in vocabularies.items():
        levels = {
            "window": (teacher[:, first:end], student[:, first:end], rows_of),
            "song": (
                song_means(teacher[:, first:end], track_index),
                song_means(student[:, first:end], track_index),
                [np.array([i]) for i in range(len(songs))],
            ),
        }
        result[name] = {
            level: _level(reference, scores, groups, draws)
            for level, (reference, scores, groups) in levels.items()
        }
    return result


def _level(
    reference: np.ndarray, scores: np.ndarray, groups: list[np.ndarray], draws: list[np.ndarray]
) -> dict[str, Any]:
    labels = binarise(reference)
    tags = [str(i) for i in range(labels.shape[1])]
    observed = tag_metrics(labels, scores, tags)
    result = {
        "roc_auc": observed["roc_auc"],
        "pr_auc": observed["pr_auc"],
        "mean_abs_diff": float(np.abs(scores - reference).mean()),
        "tags_scored": observed["num_tags_scored"],
        "rows": len(labels),
    }
    if draws:
        resampled = []
        for draw in draws:
            rows = np.concatenate([groups[g] for g in draw])
            metrics = tag_metrics(labels[rows], scores[rows], tags)
            resampled.append((metrics["roc_auc"], metrics["pr_auc"]))
        low, high = np.percentile(np.array(resampled), [2.5, 97.5], axis=0)
        result |= {
            "roc_auc_interval": [float(low[0]), float(high[0])],
            "pr_auc_interval": [float(low[1]), float(high[1])],
        }
    return result
