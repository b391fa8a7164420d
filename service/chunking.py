"""Cut a song into the model's fixed-length input windows (the rows of its taggram).

Rules, chosen so every second of audio counts and padding never dominates a window:
- windows start at 0, hop, 2·hop, … and every window that fits entirely in the song is kept;
- the first window that runs past the end is zero-padded and kept only when at least half of it
  is audio (later ones would repeat audio already covered);
- a song shorter than one window becomes one zero-padded window.
"""

from __future__ import annotations

import numpy as np

# Below this hop (as a fraction of the window) a long song would become thousands of windows.
MIN_HOP_FRACTION = 1 / 8


class InvalidHopError(ValueError):
    """The requested hop is not usable with the model's window length."""


def hop_samples(hop_seconds: float | None, *, chunk_samples: int, sample_rate: int) -> int:
    """The hop in samples; `None` means one window (no overlap)."""
    if hop_seconds is None:
        return chunk_samples
    hop = round(hop_seconds * sample_rate)
    chunk_seconds = chunk_samples / sample_rate
    if not MIN_HOP_FRACTION * chunk_samples <= hop <= chunk_samples:
        raise InvalidHopError(
            f"hop must be between {MIN_HOP_FRACTION * chunk_seconds:g} and {chunk_seconds:g} s "
            f"(the model's window). Received: hop={hop_seconds:g}"
        )
    return hop


def chunk_starts(num_samples: int, *, chunk_samples: int, hop: int) -> np.ndarray:
    """Start sample of every window kept for a song of `num_samples` samples."""
    if num_samples <= chunk_samples:
        return np.zeros(1, dtype=np.int64)
    full = np.arange(0, num_samples - chunk_samples + 1, hop, dtype=np.int64)
    next_start = int(full[-1]) + hop
    if next_start < num_samples and 2 * (num_samples - next_start) >= chunk_samples:
        return np.append(full, next_start)
    return full


def cut_chunks(waveform: np.ndarray, *, chunk_samples: int, hop: int) -> tuple[list[np.ndarray], np.ndarray]:
    """(windows of `chunk_samples` float32 samples, start samples (n_chunks,)) for a mono waveform.

    Full windows are views into `waveform`, so heavy overlap does not multiply memory; only a
    window that needs zero padding is a copy.
    """
    starts = chunk_starts(waveform.size, chunk_samples=chunk_samples, hop=hop)
    chunks = []
    for start in starts:
        piece = waveform[start : start + chunk_samples]
        if piece.size < chunk_samples:
            piece = np.pad(piece, (0, chunk_samples - piece.size))
        chunks.append(piece)
    return chunks, starts
