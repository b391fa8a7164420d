"""Cut a song into the model's fixed-length input windows (the rows of its taggram).

The one windowing every path uses: the API, the batch CLI, Beam and training's evaluation. Rules,
chosen so every second of audio counts and padding never dominates a window:
- a front end that does not centre its frames gets the song centred once (n_fft / 2 zeros in
  front), as librosa does, so frame j of window k is centred on sample k·hop + j·hop_length;
- windows start at 0, hop, 2·hop, … and every window that fits entirely in the song is kept;
- the first window that runs past the end is zero-padded and kept only when at least half of it
  is audio (later ones would repeat audio already covered);
- a song shorter than one window becomes one zero-padded window.
"""

from __future__ import annotations

import numpy as np

from tagger.arrays import FloatArray, IntArray
from tagger.errors import InvalidHopError
from tagger.model_format import FrontendSpec

# Below this hop (as a fraction of the window) a long song would become thousands of windows.
MIN_HOP_FRACTION = 1 / 8


def hop_samples(
    hop_seconds: float | None, *, window_samples: int, sample_rate: int, default: int | None = None
) -> int:
    """The hop in samples; `None` means `default`, or one window (no overlap) when there is none."""
    if hop_seconds is None:
        return default or window_samples
    window_seconds = window_samples / sample_rate
    # Compared in seconds first: a hop like 1e308 overflows when rounded to samples.
    hop = round(hop_seconds * sample_rate) if hop_seconds <= window_seconds else window_samples + 1
    if not MIN_HOP_FRACTION * window_samples <= hop <= window_samples:
        raise InvalidHopError(
            f"hop must be between {MIN_HOP_FRACTION * window_seconds:g} and {window_seconds:g} s "
            f"(the model's window). Received: hop={hop_seconds:g}"
        )
    return hop


def window_starts(num_samples: int, *, window_samples: int, hop: int) -> IntArray:
    """Start sample of every window kept for a song of `num_samples` samples."""
    if num_samples <= window_samples:
        return np.zeros(1, dtype=np.int64)
    full = np.arange(0, num_samples - window_samples + 1, hop, dtype=np.int64)
    next_start = int(full[-1]) + hop
    if next_start < num_samples and 2 * (num_samples - next_start) >= window_samples:
        return np.append(full, next_start)
    return full


def cut_windows(waveform: FloatArray, *, window_samples: int, hop: int) -> tuple[list[FloatArray], IntArray]:
    """(windows of `window_samples` float32 samples, start samples (n_windows,)) for a mono waveform.

    Full windows are views into `waveform`, so heavy overlap does not multiply memory; only a
    window that needs zero padding is a copy.
    """
    starts = window_starts(waveform.size, window_samples=window_samples, hop=hop)
    windows = []
    for start in starts:
        piece = waveform[start : start + window_samples]
        if piece.size < window_samples:
            piece = np.pad(piece, (0, window_samples - piece.size))
        windows.append(piece)
    return windows, starts


def song_windows(
    waveform: FloatArray, frontend: FrontendSpec, *, hop: int
) -> tuple[list[FloatArray], IntArray]:
    """The model input windows of a decoded song (at `frontend.sample_rate`) and their start samples."""
    if not frontend.center:
        waveform = np.pad(waveform, (frontend.n_fft // 2, 0))
    return cut_windows(waveform, window_samples=frontend.window_samples, hop=hop)
