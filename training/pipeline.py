"""tf.data input pipelines: decode with the service's own intake, crop to the model's window, augment.

Every pipeline takes the model's `FrontendSpec` and decodes at its `sample_rate` with
`tagger.audio.load_audio`, so training, evaluation and serving see the same samples and the rate
cannot be set apart from the model. Audio is read from local paths or from any URI `tf.io.gfile`
knows (`gs://`, and after `import tensorflow_io` also `s3://`, `az://`, `http(s)://`, `hdfs://`).

Decoding and resampling a whole track costs far more than cropping and augmenting a window, so the
decoded tracks are cached (in memory, or in files when `cache` names a path) and only the crop and
the augmentation are drawn again each epoch. Random crops and augmentations take their per-example
seeds from `tf.data.Dataset.random(seed)`: a seed reproduces an epoch, and each epoch differs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_io  # noqa: F401  (registers s3://, az://, http(s)://, hdfs:// with tf.io.gfile)

from tagger.audio import load_audio
from tagger.model_format import FrontendSpec
from tagger.tracks import Track, is_uri
from tagger.windows import song_windows
from training.augment import Augmenter

AUTOTUNE = tf.data.AUTOTUNE


def read_audio(audio: str, *, sample_rate: int) -> np.ndarray:
    """The service's intake on a local path, or on the bytes of a URI read through `tf.io.gfile`."""
    if is_uri(audio):
        with tf.io.gfile.GFile(audio, "rb") as file:
            return load_audio(file.read(), sample_rate=sample_rate)
    return load_audio(audio, sample_rate=sample_rate)


def decoded_tracks(
    tracks: list[Track] | tuple[Track, ...], targets: np.ndarray, *, sample_rate: int, cache: str = ""
) -> tf.data.Dataset:
    """(waveform (samples,), target) per track, decoded in parallel and cached (`cache` "" = in memory)."""

    def decode(audio: tf.Tensor) -> tf.Tensor:
        waveform = tf.numpy_function(
            lambda path: read_audio(path.decode(), sample_rate=sample_rate),
            [audio],
            tf.float32,
            stateful=False,
        )
        return tf.ensure_shape(waveform, [None])

    audio = tf.constant([track.audio for track in tracks])
    dataset = tf.data.Dataset.from_tensor_slices((audio, targets))
    dataset = dataset.map(lambda path, target: (decode(path), target), num_parallel_calls=AUTOTUNE)
    return dataset.cache(cache)


def random_crop(waveform: tf.Tensor, window_samples: int, seed: tf.Tensor) -> tf.Tensor:
    """A uniformly placed `window_samples` window; shorter tracks are zero-padded at the end."""
    waveform = _pad_to(waveform, window_samples)
    max_start = tf.shape(waveform)[0] - window_samples
    start = tf.random.stateless_uniform([], seed, maxval=max_start + 1, dtype=tf.int32)
    return tf.ensure_shape(waveform[start : start + window_samples], [window_samples])


def labelled_dataset(
    tracks: list[Track] | tuple[Track, ...],
    targets: np.ndarray,
    frontend: FrontendSpec,
    *,
    batch_size: int,
    augmenter: Augmenter | None,
    seed: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Endless batches of (random crop, augmented when `augmenter` is given; multi-hot target)."""

    def crop(example: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        (waveform, target), (crop_seed, augment_seed) = example, _example_seeds(seed)
        window = random_crop(waveform, frontend.window_samples, crop_seed)
        return (window if augmenter is None else augmenter(window, augment_seed)), target

    tracks_dataset = decoded_tracks(tracks, targets, sample_rate=frontend.sample_rate, cache=cache)
    return _random_batches(tracks_dataset, crop, batch_size=batch_size, seed=seed)


def unlabelled_dataset(
    tracks: list[Track] | tuple[Track, ...],
    frontend: FrontendSpec,
    *,
    batch_size: int,
    augmenter: Augmenter,
    seed: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Endless batches of (clean crop, augmented copy of it): what the teacher and the student see."""

    def crop(example: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        (waveform, _), (crop_seed, augment_seed) = example, _example_seeds(seed)
        clean = random_crop(waveform, frontend.window_samples, crop_seed)
        return clean, augmenter(clean, augment_seed)

    no_targets = np.zeros((len(tracks), 0), np.float32)
    tracks_dataset = decoded_tracks(tracks, no_targets, sample_rate=frontend.sample_rate, cache=cache)
    return _random_batches(tracks_dataset, crop, batch_size=batch_size, seed=seed)


def evaluation_dataset(
    tracks: list[Track] | tuple[Track, ...],
    targets: np.ndarray,
    frontend: FrontendSpec,
    *,
    hop_samples: int,
    batch_size: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Batches of (window, target, track index): each track's windows exactly as the service cuts them.

    The windows come from `tagger.windows.song_windows`, the function `POST /tag` uses, so an
    evaluation scores the windows a client would get (centring, tail rule and hop included).
    """
    indices = np.arange(len(tracks), dtype=np.int64)
    tracks_dataset = decoded_tracks(tracks, targets, sample_rate=frontend.sample_rate, cache=cache)

    def cut(waveform: np.ndarray) -> np.ndarray:
        windows, _ = song_windows(waveform, frontend, hop=hop_samples)
        return np.stack(windows)

    def track_windows(example: tuple[tf.Tensor, tf.Tensor], index: tf.Tensor) -> tf.data.Dataset:
        waveform, target = example
        windows = tf.numpy_function(cut, [waveform], tf.float32, stateful=False)
        windows = tf.ensure_shape(windows, [None, frontend.window_samples])
        count = tf.shape(windows)[0]
        repeated = (tf.repeat(target[tf.newaxis], count, axis=0), tf.fill([count], index))
        return tf.data.Dataset.from_tensor_slices((windows, *repeated))

    dataset = tf.data.Dataset.zip(tracks_dataset, tf.data.Dataset.from_tensor_slices(indices))
    return dataset.flat_map(track_windows).batch(batch_size).prefetch(AUTOTUNE)


def _random_batches(
    tracks_dataset: tf.data.Dataset,
    crop: Callable[..., tuple[tf.Tensor, tf.Tensor]],
    *,
    batch_size: int,
    seed: int,
) -> tf.data.Dataset:
    """Shuffle whole tracks every epoch, crop each with its own seed, batch, prefetch; repeats forever."""
    num_tracks = int(tracks_dataset.cardinality())
    dataset = tracks_dataset.shuffle(num_tracks, seed=seed, reshuffle_each_iteration=True).repeat()
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    dataset = tf.data.Dataset.zip(dataset, seeds).map(crop, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def _example_seeds(random_value: tf.Tensor) -> list[tf.Tensor]:
    """Independent crop and augmentation seeds from one draw of `Dataset.random`."""
    seed = tf.stack([random_value, tf.constant(0, tf.int64)])
    return tf.unstack(tf.random.experimental.stateless_split(seed, num=2), num=2)


def _pad_to(waveform: tf.Tensor, num_samples: int) -> tf.Tensor:
    return tf.pad(waveform, [[0, tf.maximum(num_samples - tf.shape(waveform)[0], 0)]])
