"""The tf.data pipeline yields exactly the samples the service's intake yields, crops and all."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from support.audio_files import make_audio
from tagger.audio import load_audio
from tagger.model_format import FrontendSpec
from tagger.tracks import Track
from tagger.windows import song_windows
from training import pipeline
from training.augment import AugmentationConfig, Augmenter

# A model front end at another rate than the files, so every path resamples.
FRONTEND = FrontendSpec(sample_rate=16_000, window_samples=8_000)
SOURCE_RATE = 44_100


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("songs")
    return [
        make_audio(folder / "a.flac", seconds=2.0, sample_rate=SOURCE_RATE, channels=2),
        make_audio(folder / "b.mp3", seconds=1.3, sample_rate=SOURCE_RATE),
        make_audio(folder / "c.ogg", seconds=0.25, sample_rate=22_050),  # shorter than one window
    ]


def service_waveform(path: Path) -> np.ndarray:
    return load_audio(path, sample_rate=FRONTEND.sample_rate)


def test_decoded_tracks_equal_the_service_intake(songs: list[Path]) -> None:
    tracks = [Track(str(path)) for path in songs]
    targets = np.eye(len(songs), dtype=np.float32)
    decoded = list(
        pipeline.decoded_tracks(tracks, targets, sample_rate=FRONTEND.sample_rate).as_numpy_iterator()
    )
    for (waveform, target), path, expected_target in zip(decoded, songs, targets, strict=True):
        np.testing.assert_array_equal(waveform, service_waveform(path))
        np.testing.assert_array_equal(target, expected_target)


def test_a_ram_uri_is_read_through_gfile_and_decoded_identically(songs: list[Path]) -> None:
    uri = "ram://pipeline-test/a.flac"
    tf.io.gfile.makedirs("ram://pipeline-test")
    tf.io.gfile.copy(str(songs[0]), uri, overwrite=True)
    np.testing.assert_array_equal(pipeline.read_audio(uri, sample_rate=16_000), service_waveform(songs[0]))


@pytest.fixture
def http_server(songs: list[Path]) -> Iterator[str]:
    """The songs' folder over HTTP on the loopback interface, as an object store would serve them."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(songs[0].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_an_http_uri_goes_through_the_same_intake(songs: list[Path], http_server: str) -> None:
    tracks = [Track(f"{http_server}/{songs[1].name}")]
    [(waveform, _)] = pipeline.decoded_tracks(
        tracks, np.zeros((1, 1)), sample_rate=16_000
    ).as_numpy_iterator()
    np.testing.assert_array_equal(waveform, service_waveform(songs[1]))


def test_evaluation_windows_are_the_windows_the_service_cuts(songs: list[Path]) -> None:
    tracks = [Track(str(path)) for path in songs]
    targets = np.arange(len(songs) * 2, dtype=np.float32).reshape(len(songs), 2)
    hop = FRONTEND.window_samples // 2
    batches = pipeline.evaluation_dataset(tracks, targets, FRONTEND, hop_samples=hop, batch_size=5)
    windows, window_targets, indices = (
        np.concatenate(parts) for parts in zip(*batches.as_numpy_iterator(), strict=True)
    )
    expected = [song_windows(service_waveform(path), FRONTEND, hop=hop)[0] for path in songs]
    counts = [len(song) for song in expected]
    assert max(counts) > 1, "the songs are long enough for several overlapping windows"
    np.testing.assert_array_equal(indices, np.repeat(np.arange(len(songs)), counts))
    np.testing.assert_array_equal(window_targets, np.repeat(targets, counts, axis=0))
    np.testing.assert_array_equal(windows, np.concatenate([np.stack(song) for song in expected]))


def find_offset(window: np.ndarray, waveform: np.ndarray) -> int:
    """Where `window` sits in `waveform`, or -1."""
    for start in range(waveform.size - window.size + 1):
        if np.array_equal(waveform[start : start + window.size], window):
            return start
    return -1


def test_random_crops_are_slices_of_the_service_waveform_reproducible_by_seed(songs: list[Path]) -> None:
    def crops(seed: int, epochs: int = 1) -> list[np.ndarray]:
        dataset = pipeline.labelled_dataset(
            [Track(str(songs[0]))],
            np.ones((1, 3), np.float32),
            FRONTEND,
            batch_size=1,
            augmenter=None,
            seed=seed,
        )
        return [window[0] for _ in range(epochs) for window, _ in dataset.take(4).as_numpy_iterator()]

    first = crops(seed=5, epochs=2)
    waveform = service_waveform(songs[0])
    offsets = [find_offset(crop, waveform) for crop in first]
    assert min(offsets) >= 0, "a crop is not an exact slice of the decoded track"
    assert offsets[:4] != offsets[4:], "the second epoch repeated the first one's crops"
    np.testing.assert_array_equal(first, crops(seed=5, epochs=2))
    assert [find_offset(crop, waveform) for crop in crops(seed=6)] != offsets[:4]


def test_unlabelled_batches_pair_the_clean_crop_with_its_augmented_copy(
    songs: list[Path], tmp_path: Path
) -> None:
    flip = Augmenter(
        AugmentationConfig(**dict.fromkeys(vars(AugmentationConfig()), 0.0) | {"polarity_inversion": 1.0}),
        FRONTEND.sample_rate,
    )
    dataset = pipeline.unlabelled_dataset(
        [Track(str(path)) for path in songs],
        FRONTEND,
        batch_size=2,
        augmenter=flip,
        seed=0,
        cache=str(tmp_path / "cache"),
    )
    batches = list(dataset.take(3).as_numpy_iterator())
    waveforms = [service_waveform(path) for path in songs[:2]]
    for clean, noisy in batches:
        assert clean.shape == noisy.shape == (2, FRONTEND.window_samples)
        np.testing.assert_array_equal(noisy, -clean)
        for crop in clean:
            assert any(find_offset(crop, waveform) >= 0 for waveform in waveforms) or crop[-1] == 0.0
    assert list(tmp_path.glob("cache*")), "decoded tracks were not cached to the file"


def test_augmented_training_crops_keep_the_window_shape(songs: list[Path]) -> None:
    augmenter = Augmenter(AugmentationConfig(), FRONTEND.sample_rate)
    dataset = pipeline.labelled_dataset(
        [Track(str(path)) for path in songs],
        np.eye(3, dtype=np.float32),
        FRONTEND,
        batch_size=3,
        augmenter=augmenter,
        seed=1,
    )
    windows, targets = next(dataset.as_numpy_iterator())
    assert windows.shape == (3, FRONTEND.window_samples) and np.isfinite(windows).all()
    assert sorted(targets.argmax(axis=1)) == [0, 1, 2]
