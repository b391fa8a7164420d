"""tf.data input pipelines: decode with the service's own intake, crop to the model's chunk, augment.

Every pipeline takes the model's `FrontendConfig` and decodes at its `sample_rate` with
`service.audio.load_audio`, so training, evaluation and serving see the same samples and the rate
cannot be set apart from the model. Audio is read from local paths or from any URI `tf.io.gfile`
knows (`gs://`, and after `import tensorflow_io` also `s3://`, `az://`, `http(s)://`, `hdfs://`).

Decoding and resampling a whole track costs far more than cropping and augmenting a chunk, so the
decoded tracks are cached (in memory, or in files when `cache` names a path) and only the crop and
the augmentation are drawn again each epoch. Random crops and augmentations take their per-example
seeds from `tf.data.Dataset.random(seed)`: a seed reproduces an epoch, and each epoch differs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_io  # noqa: F401  (registers s3://, az://, http(s)://, hdfs:// with tf.io.gfile)

from service.audio import load_audio
from training.augment import Augmenter
from training.dataset import Track, is_uri
from training.frontend import FrontendConfig

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


def random_crop(waveform: tf.Tensor, chunk_samples: int, seed: tf.Tensor) -> tf.Tensor:
    """A uniformly placed `chunk_samples` window; shorter tracks are zero-padded at the end."""
    waveform = _pad_to(waveform, chunk_samples)
    max_start = tf.shape(waveform)[0] - chunk_samples
    start = tf.random.stateless_uniform([], seed, maxval=max_start + 1, dtype=tf.int32)
    return tf.ensure_shape(waveform[start : start + chunk_samples], [chunk_samples])


def evenly_spaced_chunks(waveform: tf.Tensor, chunk_samples: int, num_chunks: int) -> tf.Tensor:
    """(num_chunks, chunk_samples) windows from the first to the last possible start, evenly spaced."""
    waveform = _pad_to(waveform, chunk_samples)
    last_start = tf.cast(tf.shape(waveform)[0] - chunk_samples, tf.float32)
    starts = tf.cast(tf.round(tf.linspace(0.0, last_start, num_chunks)), tf.int32)
    indices = starts[:, tf.newaxis] + tf.range(chunk_samples)[tf.newaxis, :]
    return tf.ensure_shape(tf.gather(waveform, indices), [num_chunks, chunk_samples])


def labelled_dataset(
    tracks: list[Track] | tuple[Track, ...],
    targets: np.ndarray,
    frontend: FrontendConfig,
    *,
    batch_size: int,
    augmenter: Augmenter | None,
    seed: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Endless batches of (random crop, augmented when `augmenter` is given; multi-hot target)."""

    def crop(example: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        (waveform, target), (crop_seed, augment_seed) = example, _example_seeds(seed)
        chunk = random_crop(waveform, frontend.chunk_samples, crop_seed)
        return (chunk if augmenter is None else augmenter(chunk, augment_seed)), target

    tracks_dataset = decoded_tracks(tracks, targets, sample_rate=frontend.sample_rate, cache=cache)
    return _random_batches(tracks_dataset, crop, batch_size=batch_size, seed=seed)


def unlabelled_dataset(
    tracks: list[Track] | tuple[Track, ...],
    frontend: FrontendConfig,
    *,
    batch_size: int,
    augmenter: Augmenter,
    seed: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Endless batches of (clean crop, augmented copy of it): what the teacher and the student see."""

    def crop(example: tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        (waveform, _), (crop_seed, augment_seed) = example, _example_seeds(seed)
        clean = random_crop(waveform, frontend.chunk_samples, crop_seed)
        return clean, augmenter(clean, augment_seed)

    no_targets = np.zeros((len(tracks), 0), np.float32)
    tracks_dataset = decoded_tracks(tracks, no_targets, sample_rate=frontend.sample_rate, cache=cache)
    return _random_batches(tracks_dataset, crop, batch_size=batch_size, seed=seed)


def evaluation_dataset(
    tracks: list[Track] | tuple[Track, ...],
    targets: np.ndarray,
    frontend: FrontendConfig,
    *,
    num_chunks: int,
    batch_size: int,
    cache: str = "",
) -> tf.data.Dataset:
    """Batches of (chunk, target, track index): `num_chunks` evenly spaced chunks of every track, in order."""
    indices = np.arange(len(tracks), dtype=np.int64)
    tracks_dataset = decoded_tracks(tracks, targets, sample_rate=frontend.sample_rate, cache=cache)

    def chunk(example: tuple[tf.Tensor, tf.Tensor], index: tf.Tensor) -> tf.data.Dataset:
        waveform, target = example
        chunks = evenly_spaced_chunks(waveform, frontend.chunk_samples, num_chunks)
        repeated = (tf.repeat(target[tf.newaxis], num_chunks, axis=0), tf.fill([num_chunks], index))
        return tf.data.Dataset.from_tensor_slices((chunks, *repeated))

    dataset = tf.data.Dataset.zip(tracks_dataset, tf.data.Dataset.from_tensor_slices(indices)).flat_map(chunk)
    # flat_map hides the length; stating it lets Keras end a validation pass without a warning.
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(tracks) * num_chunks))
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


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
