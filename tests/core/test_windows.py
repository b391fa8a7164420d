"""Window rules: full windows, the half-window rule for the tail, padding a short song once, the hop."""

from __future__ import annotations

import numpy as np
import pytest

from tagger.errors import InvalidHopError
from tagger.windows import cut_windows, hop_samples, window_starts

WINDOW = 100


@pytest.mark.parametrize(
    ("num_samples", "hop", "expected_starts"),
    [
        (1, WINDOW, [0]),  # shorter than a window: padded once
        (49, WINDOW, [0]),  # even when less than half a window
        (WINDOW, WINDOW, [0]),
        (249, WINDOW, [0, 100]),  # tail of 49 < half a window: dropped
        (250, WINDOW, [0, 100, 200]),  # tail of exactly half: kept
        (300, WINDOW, [0, 100, 200]),
        (250, 50, [0, 50, 100, 150, 200]),  # overlap: every full window, tail of 50 kept
        (240, 50, [0, 50, 100, 150]),  # the window at 150 holds 90 ≥ 50 samples: kept
    ],
)
def test_window_starts(num_samples: int, hop: int, expected_starts: list[int]) -> None:
    starts = window_starts(num_samples, window_samples=WINDOW, hop=hop)
    assert starts.tolist() == expected_starts


def test_windows_hold_the_audio_and_zero_padding() -> None:
    waveform = np.arange(1, 261, dtype=np.float32)  # 2.6 windows, no zero sample
    windows, starts = cut_windows(waveform, window_samples=WINDOW, hop=WINDOW)
    assert starts.tolist() == [0, 100, 200]
    assert [c.shape for c in windows] == [(WINDOW,)] * 3 and all(c.dtype == np.float32 for c in windows)
    np.testing.assert_array_equal(windows[1], waveform[100:200])
    np.testing.assert_array_equal(windows[2][:60], waveform[200:])
    assert not windows[2][60:].any()


def test_overlapping_full_windows_share_the_waveform_memory() -> None:
    waveform = np.ones(1_000, dtype=np.float32)
    windows, _ = cut_windows(waveform, window_samples=WINDOW, hop=12)
    assert len(windows) == 77  # full windows at 0, 12, …, 900 and a padded one at 912
    assert all(np.shares_memory(window, waveform) for window in windows[:-1])
    assert not np.shares_memory(windows[-1], waveform)


def test_short_song_is_one_padded_window() -> None:
    windows, starts = cut_windows(np.ones(30, np.float32), window_samples=WINDOW, hop=WINDOW)
    assert starts.tolist() == [0] and len(windows) == 1
    assert windows[0][:30].all() and not windows[0][30:].any()


def test_hop_in_seconds_becomes_samples_and_defaults_to_one_window() -> None:
    assert hop_samples(None, window_samples=16_000, sample_rate=16_000) == 16_000
    assert hop_samples(0.5, window_samples=16_000, sample_rate=16_000) == 8_000


@pytest.mark.parametrize("hop_seconds", [1.5, 0.05, 1e308, float("inf")])
def test_hop_longer_than_a_window_or_tiny_is_refused(hop_seconds: float) -> None:
    with pytest.raises(InvalidHopError, match="hop must be between 0.125 and 1 s"):
        hop_samples(hop_seconds, window_samples=16_000, sample_rate=16_000)
