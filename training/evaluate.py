"""Macro ROC-AUC and PR-AUC (average precision) at window level and song level, with a per-tag table.

Song level scores a track by the mean of its window sigmoids, over the windows the service cuts
(`tagger.windows`, at the model's hop); window level scores every window against its track's tags.
A tag with no positives (or no negatives) in the evaluation set has no ROC-AUC: it is listed under
`excluded_tags` with the reason and left out of the macro averages, never counted as 0 or 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm import tqdm

from tagger.model_format import SCORES_OUTPUT, SIGNATURE, FrontendSpec
from tagger.tracks import Track
from training import pipeline
from training.dataset import multi_hot

Predictor = Callable[[tf.Tensor], np.ndarray]


def keras_predictor(model: keras.Model) -> Predictor:
    """Scores of a Keras tagger in inference mode."""
    predict = tf.function(
        lambda batch: model(batch, training=False)[SCORES_OUTPUT],
        input_signature=[tf.TensorSpec(model.input_shape, tf.float32)],
    )
    return lambda batch: predict(batch).numpy()


def saved_model_predictor(loaded: Any) -> Predictor:
    """Scores of an exported model loaded with `tf.saved_model.load`, through its serving signature."""
    return lambda batch: getattr(loaded, SIGNATURE)(batch)[SCORES_OUTPUT].numpy()


@dataclass(frozen=True)
class Predictions:
    """Scores of every window, the track each belongs to, and each track's mean."""

    window_scores: np.ndarray  # (total windows, num_tags)
    track_index: np.ndarray  # (total windows,)
    song_scores: np.ndarray  # (num_tracks, num_tags)


def predict_tracks(
    predict: Predictor,
    tracks: list[Track],
    frontend: FrontendSpec,
    *,
    hop_samples: int,
    batch_size: int = 32,
) -> Predictions:
    """Scores of every track's windows at `hop_samples`, decoded and cut as the service does it."""
    no_targets = np.zeros((len(tracks), 0), np.float32)
    dataset = pipeline.evaluation_dataset(
        tracks, no_targets, frontend, hop_samples=hop_samples, batch_size=batch_size
    )
    batches = [
        (predict(windows), index.numpy())
        for windows, _, index in tqdm(dataset, desc="evaluating", leave=False)
    ]
    window_scores = np.concatenate([scores for scores, _ in batches])
    track_index = np.concatenate([index for _, index in batches])
    song_scores = np.zeros((len(tracks), window_scores.shape[1]))
    np.add.at(song_scores, track_index, window_scores)
    song_scores /= np.bincount(track_index, minlength=len(tracks))[:, np.newaxis]
    return Predictions(window_scores, track_index, song_scores)


def evaluate(
    predict: Predictor,
    tracks: list[Track],
    vocabulary: list[str],
    frontend: FrontendSpec,
    *,
    hop_samples: int,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Window- and song-level metrics of `predict` on `tracks`, decoded and cut as the service does it."""
    predictions = predict_tracks(predict, tracks, frontend, hop_samples=hop_samples, batch_size=batch_size)
    return score_predictions(predictions, multi_hot(tracks, vocabulary), vocabulary)


def score_predictions(predictions: Predictions, targets: np.ndarray, vocabulary: list[str]) -> dict[str, Any]:
    """Window- and song-level metrics of `predictions` for tracks with multi-hot `targets`."""
    num_tracks = len(targets)
    return {
        "num_tracks": num_tracks,
        "windows_per_track": len(predictions.track_index) / num_tracks,
        "window": tag_metrics(targets[predictions.track_index], predictions.window_scores, vocabulary),
        "song": tag_metrics(targets, predictions.song_scores, vocabulary),
    }


def bootstrap_pr_auc_difference(
    targets: np.ndarray,
    baseline_scores: np.ndarray,
    candidate_scores: np.ndarray,
    vocabulary: list[str],
    *,
    num_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Candidate minus baseline macro PR-AUC, with a paired bootstrap over songs to say how sure it is.

    Both models are scored on the same resampled songs each time. Returns the observed difference,
    the 95% interval of the resampled differences, and the share of resamples where the candidate wins.
    """
    rng = np.random.default_rng(seed)

    def difference(rows: np.ndarray) -> float:
        # The same tags as `tag_metrics` scores: those with positives and negatives among these songs.
        sample = targets[rows]
        scorable = [column for column in range(len(vocabulary)) if 0 < sample[:, column].sum() < len(rows)]

        def macro_pr_auc(scores: np.ndarray) -> float:
            return float(np.mean([average_precision_score(sample[:, c], scores[rows, c]) for c in scorable]))

        return macro_pr_auc(candidate_scores) - macro_pr_auc(baseline_scores)

    resampled = np.array(
        [difference(rng.integers(len(targets), size=len(targets))) for _ in range(num_resamples)]
    )
    return {
        "difference": difference(np.arange(len(targets))),
        "interval_low": float(np.percentile(resampled, 2.5)),
        "interval_high": float(np.percentile(resampled, 97.5)),
        "candidate_better_share": float(np.mean(resampled > 0)),
    }


def tag_metrics(targets: np.ndarray, scores: np.ndarray, vocabulary: list[str]) -> dict[str, Any]:
    """Macro ROC-AUC and PR-AUC over the tags with both positives and negatives, and each tag's scores."""
    per_tag: dict[str, dict[str, float | int]] = {}
    excluded: dict[str, str] = {}
    for column, tag in enumerate(vocabulary):
        positives = int(targets[:, column].sum())
        if positives == 0 or positives == len(targets):
            excluded[tag] = f"{'no' if positives == 0 else 'only'} positives in the evaluation set"
            continue
        per_tag[tag] = {
            "roc_auc": float(roc_auc_score(targets[:, column], scores[:, column])),
            "pr_auc": float(average_precision_score(targets[:, column], scores[:, column])),
            "positives": positives,
        }
    if not per_tag:
        raise ValueError(f"No tag has both positives and negatives in the evaluation set: {excluded}.")
    return {
        "roc_auc": float(np.mean([entry["roc_auc"] for entry in per_tag.values()])),
        "pr_auc": float(np.mean([entry["pr_auc"] for entry in per_tag.values()])),
        "num_tags_scored": len(per_tag),
        "excluded_tags": excluded,
        "per_tag": per_tag,
    }


def format_table(evaluation: dict[str, Any]) -> str:
    """The per-tag song-level table, as Markdown, with the macro averages and exclusions below it."""
    song = evaluation["song"]
    rows = ["| tag | positives | ROC-AUC | PR-AUC |", "|---|---:|---:|---:|"]
    rows += [
        f"| {tag} | {entry['positives']} | {entry['roc_auc']:.4f} | {entry['pr_auc']:.4f} |"
        for tag, entry in song["per_tag"].items()
    ]
    rows.append(
        f"| **macro ({song['num_tags_scored']} tags)** | | {song['roc_auc']:.4f} | {song['pr_auc']:.4f} |"
    )
    rows += [f"\nexcluded: {tag} ({reason})" for tag, reason in song["excluded_tags"].items()]
    return "\n".join(rows)
