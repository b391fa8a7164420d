"""Audio intake: any audio file to mono float32 at a requested sample rate.

This is the only way audio enters a model, in training, evaluation and serving alike, so a
sample-rate or decoding mismatch between them cannot happen. Decoding is FFmpeg through PyAV
(every common format, in process, streamed frame by frame so a duration cap stops a
decompression bomb before it fills memory); resampling is soxr's high-quality mode, the same
resampler `librosa.load` uses by default. Damaged files decode as far as they can, as with the
ffmpeg CLI: undecodable packets are skipped and counted in a `DecodeReport` (docs/reliability.md).
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
import numpy as np
import soxr

from tagger.arrays import FloatArray
from tagger.decode_report import DecodeReport
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
# A file is refused when less than this share of it decodes (docs/reliability.md, "Damaged files"):
# a song cut in half is still that song, but a quarter or less is more likely a broken upload.
MIN_DECODED_SHARE = 0.25
# A shortfall against the announced length smaller than this (or 1 %) is rounding, not damage.
MISSING_TOLERANCE_S = 0.1


def load_audio(
    source: AudioSource,
    *,
    sample_rate: int,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    min_decoded_share: float = MIN_DECODED_SHARE,
) -> FloatArray:
    """Decode `source` to mono float32 at `sample_rate` (see `decode_audio`), without the damage report."""
    return decode_audio(
        source,
        sample_rate=sample_rate,
        min_seconds=min_seconds,
        max_seconds=max_seconds,
        min_decoded_share=min_decoded_share,
    ).samples


def decode_audio(
    source: AudioSource,
    *,
    sample_rate: int,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
    min_decoded_share: float = MIN_DECODED_SHARE,
) -> DecodedAudio:
    """Decode `source` (path, bytes or binary file object) to mono float32 at `sample_rate`.

    Channels are averaged. Damaged packets are skipped and reported, as the ffmpeg CLI skips them;
    a file is refused when less than `min_decoded_share` of it decodes (of what its container
    announces, or of what was read when that is more). Raises a subclass of `AudioError` for
    anything that is not usable audio.
    """
    if _is_zero_bytes(source):
        raise EmptyAudioError("the file is empty (0 bytes)")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    waveform, source_rate, damage = _decode_mono(source, max_seconds=max_seconds)
    if waveform.size == 0:
        if damage.first_error is not None:
            raise UndecodableAudioError(f"corrupt audio data ({damage.first_error})")
        raise EmptyAudioError("the file contains no audio samples")
    if not np.isfinite(waveform).all():
        raise NonFiniteAudioError("the audio contains NaN or infinite sample values")
    duration = waveform.size / source_rate
    if duration < min_seconds:
        raise AudioTooShortError(f"the audio is {duration:.3f} s long; at least {min_seconds:g} s is needed")
    expected = max(damage.announced_seconds or 0.0, duration + damage.skipped_seconds)
    if duration < min_decoded_share * expected:
        raise UndecodableAudioError(
            f"corrupt audio data: only {duration:.1f} s of {expected:.1f} s decodes "
            f"({duration / expected:.0%}; at least {min_decoded_share:.0%} must)"
        )
    return DecodedAudio(_resample(waveform, source_rate, sample_rate), damage.report(duration))


@dataclass(frozen=True)
class DecodedAudio:
    """Mono samples at the requested rate, and what was skipped to get them (`None`: nothing)."""

    samples: FloatArray
    report: DecodeReport | None


@dataclass
class _Damage:
    """Tally of one decode: what the decoder refused, where reading stopped, what the container announced.

    A refused packet counts once a frame decodes after it: junk after the last frame (APEv2, ID3v1 or
    Lyrics3 tags, padding, a last frame cut short) is the end of the file, not damage to the song.
    """

    announced_seconds: float | None = None
    skipped_frames: int = 0
    skipped_seconds: float = 0.0
    pending_frames: int = 0
    pending_seconds: float = 0.0
    first_error: str | None = None
    stopped_at: float | None = None  # seconds decoded when the demuxer failed (the rest is unreadable)

    def refuse(self, seconds: float, error: Exception | None = None) -> None:
        self.pending_frames += 1
        self.pending_seconds += seconds
        if error is not None and self.first_error is None:
            self.first_error = _reason(error)

    def resume(self) -> None:
        """A frame decoded: the refusals before it were damage inside the song."""
        self.skipped_frames += self.pending_frames
        self.skipped_seconds += self.pending_seconds
        self.pending_frames, self.pending_seconds = 0, 0.0

    def report(self, decoded_seconds: float) -> DecodeReport | None:
        """`None` for a clean decode; otherwise the counts and one sentence saying what was lost."""
        shortfall = (self.announced_seconds or 0.0) - decoded_seconds - self.skipped_seconds
        missing = shortfall if shortfall > max(MISSING_TOLERANCE_S, 0.01 * decoded_seconds) else 0.0
        if not (self.skipped_frames or missing or self.stopped_at is not None):
            return None
        parts = []
        if self.skipped_frames:
            parts.append(
                f"skipped {self.skipped_frames} undecodable frame(s), {self.skipped_seconds:.2f} s "
                f"({self.first_error or 'unexpected format'})"
            )
        if self.stopped_at is not None:
            parts.append(f"the file is unreadable after {self.stopped_at:.1f} s ({self.first_error})")
        if missing:
            parts.append(
                f"{missing:.1f} s of the {self.announced_seconds:.1f} s the file announces are missing"
            )
        warning = "damaged audio, tagged from what decodes: " + "; ".join(parts)
        return DecodeReport(self.skipped_frames, round(self.skipped_seconds, 3), round(missing, 3), warning)


def _decode_mono(
    source: str | os.PathLike[str] | BinaryIO, *, max_seconds: float | None
) -> tuple[FloatArray, int, _Damage]:
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
        damage = _Damage(announced_seconds=_declared_seconds(container, stream))
        if max_seconds is not None and (damage.announced_seconds or 0.0) > max_seconds:
            # Reject early when the header says the file is too long (headers can lie: see the loop below).
            raise AudioTooLongError(
                f"the audio is {damage.announced_seconds:.1f} s long; the limit is {max_seconds:g} s"
            )
        # Convert every sample format (int8..int32, float, planar or packed) to packed float32. Not
        # planar: PyAV 18 reads a ninth, missing plane of 8-channel planar frames and crashes the process.
        to_float = av.AudioResampler(format="flt", frame_size=BLOCK_SAMPLES)
        blocks: list[FloatArray] = []
        num_samples = 0
        try:
            # The final `None` flushes the last, partial block out of the resampler.
            for frame in itertools.chain(_decoded_frames(container, stream, damage), [None]):
                for converted in to_float.resample(frame):
                    samples = np.asarray(converted.to_ndarray(), dtype=np.float32)  # already float32: no copy
                    block = _average_channels(samples, converted.layout.nb_channels)
                    num_samples += block.size
                    if max_samples is not None and num_samples > max_samples:
                        raise AudioTooLongError(f"the audio is longer than the {max_seconds:g} s limit")
                    blocks.append(block)
        except av.FFmpegError as error:  # a decoded frame FFmpeg cannot convert: no skipping mends that
            raise UndecodableAudioError(f"corrupt audio data ({_reason(error)})") from error
    waveform = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return waveform, source_rate, damage


def _decoded_frames(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, damage: _Damage
) -> Iterator[av.AudioFrame]:
    """Every frame that decodes, packet by packet; one that does not is counted and skipped.

    As the ffmpeg CLI does: a packet the decoder refuses (a damaged stretch, junk or a tag between
    frames, a frame cut short) is dropped and decoding goes on at the next one; a frame whose rate or
    layout differs from the stream's (junk that happens to parse as a header) is dropped likewise;
    a demuxer error ends the file there, keeping what decoded before it.
    """
    context = stream.codec_context
    # What the probe found; when it decoded nothing (format unknown), the first frame that decodes says.
    shape = None if context.format is None else _shape(context)
    frame_seconds = (context.frame_size or 0) / context.sample_rate  # a skipped packet's length if unstated
    decoded_seconds = 0.0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as error:
            damage.stopped_at = decoded_seconds
            damage.first_error = damage.first_error or _reason(error)
            return
        try:
            frames = packet.decode()
        except av.FFmpegError as error:
            stated = (
                float(packet.duration * packet.time_base) if packet.duration and packet.time_base else 0.0
            )
            damage.refuse(stated or frame_seconds, error)
            continue
        for frame in frames:
            frame_shape = _shape(frame)
            shape = shape or frame_shape
            if frame_shape != shape:
                damage.refuse(frame.samples / frame.sample_rate)
                continue
            if damage.pending_frames:
                damage.resume()
            frame_seconds = frame.samples / frame.sample_rate
            decoded_seconds += frame_seconds
            yield frame


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


def _shape(audio: av.AudioFrame | av.audio.codeccontext.AudioCodecContext) -> tuple[int, int, str]:
    return audio.sample_rate, audio.layout.nb_channels, audio.format.name


def _declared_seconds(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> float | None:
    """The length the file announces, if it does (headers can lie: the decode loop checks).

    The stream's own length, else the container's (Matroska and WebM state only the latter).
    """
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


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
