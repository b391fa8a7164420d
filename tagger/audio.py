"""Audio intake: any audio file to mono float32 at a requested sample rate.

This is the only way audio enters a model, in training, evaluation and serving alike, so a
sample-rate or decoding mismatch between them cannot happen. Decoding is FFmpeg through PyAV
(every common format, in process, streamed frame by frame so a duration cap stops a
decompression bomb before it fills memory); resampling is soxr's high-quality mode, the same
resampler `librosa.load` uses by default.
"""

from __future__ import annotations

import io
import itertools
import os
from typing import BinaryIO

import av
import numpy as np
import soxr

from tagger.arrays import FloatArray
from tagger.errors import (
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    NonFiniteAudioError,
    UndecodableAudioError,
)

AudioSource = str | os.PathLike[str] | bytes | BinaryIO

# Only these demuxers may open a file. FFmpeg has hundreds; some read other files or URLs named
# inside the input (HLS playlists, concat lists), which must never happen with an upload.
ALLOWED_CONTAINERS = "wav,w64,flac,ogg,mp3,mov,aac,matroska,aiff,caf"
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
# Samples converted and averaged at a time. Per codec frame (1,152 samples for MP3) the NumPy and
# PyAV calls cost a fifth of decoding an MP3; per block of this size they cost nothing (docs/benchmarks.md).
BLOCK_SAMPLES = 1 << 16


def load_audio(
    source: AudioSource,
    *,
    sample_rate: int,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
) -> FloatArray:
    """Decode `source` (path, bytes or binary file object) to mono float32 at `sample_rate`.

    Channels are averaged. Raises a subclass of `AudioError` for anything that is not usable audio.
    """
    if _is_zero_bytes(source):
        raise EmptyAudioError("the file is empty (0 bytes)")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    waveform, source_rate = _decode_mono(source, max_seconds=max_seconds)
    if waveform.size == 0:
        raise EmptyAudioError("the file contains no audio samples")
    if not np.isfinite(waveform).all():
        raise NonFiniteAudioError("the audio contains NaN or infinite sample values")
    duration = waveform.size / source_rate
    if duration < min_seconds:
        raise AudioTooShortError(f"the audio is {duration:.3f} s long; at least {min_seconds:g} s is needed")
    return _resample(waveform, source_rate, sample_rate)


def _decode_mono(
    source: str | os.PathLike[str] | BinaryIO, *, max_seconds: float | None
) -> tuple[FloatArray, int]:
    try:
        container = av.open(source, mode="r", options={"format_whitelist": ALLOWED_CONTAINERS})
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise UndecodableAudioError(f"not a supported audio file ({_reason(error)})") from error
    with container:
        if not container.streams.audio:
            raise UndecodableAudioError(f"the {container.format.name!r} file has no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg found no decoder for what the header describes
            raise UndecodableAudioError(f"the {container.format.name!r} file's audio codec is not supported")
        source_rate = stream.codec_context.sample_rate
        if not MIN_SAMPLE_RATE <= source_rate <= MAX_SAMPLE_RATE:
            raise UndecodableAudioError(
                f"sample rate {source_rate} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
            )
        max_samples = None if max_seconds is None else int(max_seconds * source_rate)
        _check_declared_duration(stream, max_seconds)
        # Convert every sample format (int8..int32, float, planar or packed) to packed float32. Not
        # planar: PyAV 18 reads a ninth, missing plane of 8-channel planar frames and crashes the process.
        to_float = av.AudioResampler(format="flt", frame_size=BLOCK_SAMPLES)
        blocks: list[FloatArray] = []
        num_samples = 0
        try:
            # The final `None` flushes the last, partial block out of the resampler.
            for frame in itertools.chain(container.decode(stream), [None]):
                for converted in to_float.resample(frame):
                    samples = np.asarray(converted.to_ndarray(), dtype=np.float32)  # already float32: no copy
                    block = _average_channels(samples, converted.layout.nb_channels)
                    num_samples += block.size
                    if max_samples is not None and num_samples > max_samples:
                        raise AudioTooLongError(f"the audio is longer than the {max_seconds:g} s limit")
                    blocks.append(block)
        except av.FFmpegError as error:
            raise UndecodableAudioError(f"corrupt audio data ({_reason(error)})") from error
    waveform = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return waveform, source_rate


def _average_channels(interleaved: FloatArray, channels: int) -> FloatArray:
    """Mono from packed samples: the channels' mean, summed in channel order as `mean(axis=1)` sums them.

    One vectorised add per channel: NumPy's `mean` over a short last axis walks it sample by sample
    and took a quarter of decoding a stereo MP3. From 8 channels NumPy sums pairwise, so results
    differ from `mean` by at most a rounding there.
    """
    frames = interleaved.reshape(-1, channels)
    total = frames[:, 0].copy()
    for channel in range(1, channels):
        total += frames[:, channel]
    total /= channels
    return total


def _check_declared_duration(stream: av.audio.stream.AudioStream, max_seconds: float | None) -> None:
    """Reject early when the header says the file is too long (headers can lie: see the decode loop)."""
    if max_seconds is None or stream.duration is None or stream.time_base is None:
        return
    declared = float(stream.duration * stream.time_base)
    if declared > max_seconds:
        raise AudioTooLongError(f"the audio is {declared:.1f} s long; the limit is {max_seconds:g} s")


def _resample(waveform: FloatArray, source_rate: int, target_rate: int) -> FloatArray:
    if source_rate == target_rate:
        return waveform
    resampled: FloatArray = soxr.resample(waveform, source_rate, target_rate, quality="HQ")
    return resampled.astype(np.float32, copy=False)


def _is_zero_bytes(source: AudioSource) -> bool:
    if isinstance(source, bytes):
        return not source
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source) == 0
    return False


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)
