"""The Kapre front end against librosa, the reference the papers' spectrograms are defined by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest

from support.audio_files import make_audio
from tagger.audio import load_audio
from tagger.model_format import FrontendSpec
from training.frontend import build_frontend
from training.resnet import SHORT_CHUNK_FRONTEND

MUSIC_TAGGING_TRANSFORMER = FrontendSpec()
MUSICNN = FrontendSpec(
    sample_rate=16_000,
    window_samples=48_000,
    n_fft=512,
    hop_length=256,
    pad_mode="constant",
    n_mels=96,
    mel_scale="slaney",
    mel_norm="slaney",
    log="log10_1p",
)
# 32-bit FFTs carry a band to 1e-3 dB only while it is within about 60 dB of the frame's loudest band;
# further down, rounding noise of the loud bands dominates (measured: 2e-4 dB above, 0.03 dB below).
FLOAT32_DYNAMIC_RANGE_DB = 60.0


@pytest.fixture(scope="module")
def music_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_audio(tmp_path_factory.mktemp("audio") / "music.wav", seconds=10.0, sample_rate=44_100)


def frontend_output(config: FrontendSpec, waveform: np.ndarray) -> np.ndarray:
    """(frames, n_mels) from the Kapre stack."""
    return build_frontend(config)(waveform[None]).numpy()[0, :, :, 0]


def librosa_mel(config: FrontendSpec, waveform: np.ndarray) -> np.ndarray:
    """(frames, n_mels) power mel spectrogram, computed in float64."""
    mel = librosa.feature.melspectrogram(
        y=waveform.astype(np.float64),
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        center=config.center,
        pad_mode=config.pad_mode,
        power=2.0,
        n_mels=config.n_mels,
        htk=config.mel_scale == "htk",
        norm=config.mel_norm,
    )
    return mel.T


def load_window(path: Path, config: FrontendSpec) -> np.ndarray:
    waveform = load_audio(path, sample_rate=config.sample_rate)
    assert waveform.size >= config.window_samples
    return waveform[: config.window_samples]


def test_transformer_frontend_matches_librosa_db(music_file: Path) -> None:
    waveform = load_window(music_file, MUSIC_TAGGING_TRANSFORMER)
    expected = librosa.power_to_db(librosa_mel(MUSIC_TAGGING_TRANSFORMER, waveform), amin=1e-10, top_db=None)
    actual = frontend_output(MUSIC_TAGGING_TRANSFORMER, waveform)

    assert actual.shape == expected.shape == (431, 128)
    below_frame_peak = expected.max(axis=1, keepdims=True) - expected
    in_range = below_frame_peak < FLOAT32_DYNAMIC_RANGE_DB
    assert in_range.mean() > 0.1  # the comparison covers a real share of the spectrogram
    assert np.abs(actual - expected)[in_range].max() <= 1e-3
    assert np.abs(actual - expected).max() <= 0.1


def test_musicnn_frontend_matches_librosa_log_compression(music_file: Path) -> None:
    waveform = load_window(music_file, MUSICNN)
    expected = np.log10(10_000.0 * librosa_mel(MUSICNN, waveform) + 1.0)
    actual = frontend_output(MUSICNN, waveform)

    assert actual.shape == expected.shape == (188, 96)
    assert expected.max() > 1.0  # real signal, not a near-silent window
    # 1e-4 in log10 units is 1e-3 dB.
    assert np.abs(actual - expected).max() <= 1e-4


@pytest.mark.parametrize(
    "config",
    [
        MUSIC_TAGGING_TRANSFORMER,
        SHORT_CHUNK_FRONTEND,
        MUSICNN,
        FrontendSpec(window_samples=1_000),
        FrontendSpec(window_samples=1_024, center=False),
        FrontendSpec(window_samples=5_000, n_fft=512, hop_length=300, center=False, n_mels=64),
        FrontendSpec(
            sample_rate=16_000,
            window_samples=16_001,
            n_fft=400,
            hop_length=160,
            pad_mode="constant",
            n_mels=40,
        ),
    ],
    ids=["transformer", "resnet", "musicnn", "short", "one-frame", "uncentred", "odd-hop"],
)
def test_num_frames_is_the_frame_count(config: FrontendSpec) -> None:
    frontend = build_frontend(config)
    spectrogram = frontend(np.zeros((1, config.window_samples), np.float32))

    assert frontend.output_shape == (None, config.num_frames, config.n_mels, 1)
    assert spectrogram.shape == (1, config.num_frames, config.n_mels, 1)


def test_config_round_trips_through_dict() -> None:
    assert FrontendSpec.from_dict(MUSICNN.to_dict()) == MUSICNN


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"window_samples": 512, "center": False}, "at least `n_fft`"),
        ({"window_samples": 512}, "Reflect padding"),
        ({"hop_length": 0}, "hop_length"),
        ({"hop_length": 2048}, "hop_length"),
    ],
)
def test_invalid_config_is_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrontendSpec(**values)
