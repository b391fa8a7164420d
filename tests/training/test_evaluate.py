"""Evaluation: macro ROC-AUC/PR-AUC per level, song = mean of window sigmoids, unscorable tags apart."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from support.audio_files import make_audio
from tagger.audio import load_audio
from tagger.tracks import Track
from tagger.windows import song_windows
from training.config import ModelConfig
from training.evaluate import (
    bootstrap_pr_auc_difference,
    evaluate,
    keras_predictor,
    predict_tracks,
    tag_metrics,
)

VOCABULARY = ["a", "b", "never", "always"]


def test_tag_metrics_average_only_scorable_tags_and_name_the_others() -> None:
    rng = np.random.default_rng(0)
    targets = np.zeros((20, 4))
    targets[:, 0] = rng.random(20) < 0.4
    targets[:, 1] = rng.random(20) < 0.6
    targets[:, 3] = 1.0
    scores = np.clip(targets * 0.3 + rng.random((20, 4)) * 0.7, 0, 1)

    metrics = tag_metrics(targets, scores, VOCABULARY)

    assert metrics["excluded_tags"] == {
        "never": "no positives in the evaluation set",
        "always": "only positives in the evaluation set",
    }
    assert metrics["num_tags_scored"] == 2 and set(metrics["per_tag"]) == {"a", "b"}
    roc = [roc_auc_score(targets[:, i], scores[:, i]) for i in (0, 1)]
    pr = [average_precision_score(targets[:, i], scores[:, i]) for i in (0, 1)]
    assert metrics["roc_auc"] == pytest.approx(np.mean(roc)) and metrics["pr_auc"] == pytest.approx(
        np.mean(pr)
    )
    assert metrics["per_tag"]["b"]["positives"] == int(targets[:, 1].sum())


def test_nothing_scorable_is_an_error() -> None:
    with pytest.raises(ValueError, match="No tag has both positives and negatives"):
        tag_metrics(np.zeros((5, 4)), np.zeros((5, 4)), VOCABULARY)


@pytest.fixture(scope="module")
def tagger() -> tuple[keras.Model, ModelConfig]:
    config = ModelConfig("transformer_tiny", window_seconds=0.5)
    keras.utils.set_random_seed(1)
    return config.build(2, name="tagger"), config


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> list[Track]:
    folder = tmp_path_factory.mktemp("songs")
    files = [make_audio(folder / f"{i}.wav", seconds=1.0 + 0.4 * i, sample_rate=44_100) for i in range(4)]
    files.append(make_audio(folder / "quiet.wav", seconds=1.2, source="silence"))
    tags = [("a",), ("b",), ("a", "b"), (), ("b",)]
    return [Track(str(path), song_tags) for path, song_tags in zip(files, tags, strict=True)]


def test_song_scores_are_the_mean_of_the_served_window_scores(tagger, songs: list[Track]) -> None:
    model, config = tagger
    frontend = config.frontend
    hop = frontend.window_samples // 2
    predictions = predict_tracks(keras_predictor(model), songs, frontend, hop_samples=hop, batch_size=4)

    for index, track in enumerate(songs):
        waveform = load_audio(track.audio, sample_rate=frontend.sample_rate)
        windows = np.stack(song_windows(waveform, frontend, hop=hop)[0])
        expected = model(windows, training=False)["scores"].numpy()
        rows = predictions.track_index == index
        np.testing.assert_allclose(predictions.window_scores[rows], expected, atol=1e-6)
        np.testing.assert_allclose(predictions.song_scores[index], expected.mean(axis=0), atol=1e-6)


def test_evaluate_scores_windows_against_their_songs_tags(tagger, songs: list[Track]) -> None:
    model, config = tagger
    predict = keras_predictor(model)
    hop = config.frontend.window_samples
    evaluation = evaluate(predict, songs, ["a", "b"], config.frontend, hop_samples=hop, batch_size=4)
    predictions = predict_tracks(predict, songs, config.frontend, hop_samples=hop, batch_size=4)
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [0, 1]], np.float32)
    assert evaluation["song"] == tag_metrics(targets, predictions.song_scores, ["a", "b"])
    assert evaluation["window"] == tag_metrics(
        targets[predictions.track_index], predictions.window_scores, ["a", "b"]
    )
    counts = np.bincount(predictions.track_index)
    assert counts.min() >= 2, "0.5 s windows of 1-2.6 s songs"
    assert evaluation["num_tracks"] == 5 and evaluation["windows_per_track"] == counts.mean()


def test_the_paired_bootstrap_is_sure_only_when_one_model_is_clearly_better() -> None:
    rng = np.random.default_rng(2)
    targets = (rng.random((60, 3)) < 0.4).astype(np.float32)
    noise = rng.random((60, 3))
    same = bootstrap_pr_auc_difference(targets, noise, noise, ["a", "b", "c"], num_resamples=200)
    assert same == {
        "difference": 0.0,
        "interval_low": 0.0,
        "interval_high": 0.0,
        "candidate_better_share": 0.0,
    }

    informed = 0.6 * targets + 0.4 * noise
    better = bootstrap_pr_auc_difference(targets, noise, informed, ["a", "b", "c"], num_resamples=200)
    expected = (
        tag_metrics(targets, informed, ["a", "b", "c"])["pr_auc"]
        - tag_metrics(targets, noise, ["a", "b", "c"])["pr_auc"]
    )
    assert better["difference"] == pytest.approx(expected)
    assert 0 < better["interval_low"] < better["difference"] < better["interval_high"]
    assert better["candidate_better_share"] == 1.0
    worse = bootstrap_pr_auc_difference(targets, informed, noise, ["a", "b", "c"], num_resamples=200)
    assert worse["interval_high"] < 0 and worse["candidate_better_share"] == 0.0
