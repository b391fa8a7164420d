"""The audio intake: every supported format, rate and layout, and every typed failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from support.audio_files import make_audio
from tagger.audio import load_audio
from tagger.errors import (
    AudioTooLongError,
    AudioTooShortError,
    EmptyAudioError,
    NonFiniteAudioError,
    UndecodableAudioError,
)

SECONDS = 2.0
TARGET_RATE = 16_000

# Largest codec frame in samples at the source rate; decoders may round the length to a frame.
CODEC_FRAME = {"wav": 1, "flac": 4608, "ogg": 2048, "opus": 960, "mp3": 1152, "m4a": 2048}


def assert_duration(waveform: np.ndarray, *, seconds: float, ext: str, source_rate: int) -> None:
    tolerance = int(np.ceil(CODEC_FRAME[ext] * TARGET_RATE / source_rate)) + 1
    expected = int(round(seconds * TARGET_RATE))
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert abs(waveform.size - expected) <= tolerance, (waveform.size, expected, tolerance)


# MP3 holds at most two channels; every other format is also tried with 5.1.
LAYOUTS = [
    (ext, channels) for ext in CODEC_FRAME for channels in (1, 2, 6) if not (ext == "mp3" and channels > 2)
]


@pytest.mark.parametrize(("ext", "channels"), LAYOUTS)
def test_every_format_and_layout_decodes_to_mono_at_the_requested_rate(
    tmp_path: Path, ext: str, channels: int
) -> None:
    source_rate = 48_000 if ext == "opus" else 44_100
    path = make_audio(tmp_path / f"clip.{ext}", seconds=SECONDS, sample_rate=source_rate, channels=channels)
    waveform = load_audio(path, sample_rate=TARGET_RATE)
    assert_duration(waveform, seconds=SECONDS, ext=ext, source_rate=source_rate)
    assert 0.01 < np.abs(waveform).max() <= 1.0


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"])
def test_wav_sample_formats_decode_to_the_same_signal(tmp_path: Path, codec: str) -> None:
    reference = load_audio(
        make_audio(tmp_path / "ref.wav", codec=["-c:a", "pcm_f32le"]), sample_rate=TARGET_RATE
    )
    waveform = load_audio(
        make_audio(tmp_path / f"{codec}.wav", codec=["-c:a", codec]), sample_rate=TARGET_RATE
    )
    assert waveform.shape == reference.shape
    # 8-bit PCM has a quantisation step of 2/256; everything else is near-exact.
    assert np.abs(waveform - reference).max() <= (0.01 if codec == "pcm_u8" else 1e-4)


@pytest.mark.parametrize("source_rate", [8_000, 11_025, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000])
@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_any_rate_from_8_to_96_khz_is_resampled(tmp_path: Path, source_rate: int, ext: str) -> None:
    path = make_audio(tmp_path / f"clip.{ext}", seconds=SECONDS, sample_rate=source_rate, channels=2)
    assert_duration(
        load_audio(path, sample_rate=TARGET_RATE), seconds=SECONDS, ext=ext, source_rate=source_rate
    )


@pytest.mark.parametrize("source_rate", [8_000, 22_050, 48_000])
def test_mp3_at_several_rates(tmp_path: Path, source_rate: int) -> None:
    path = make_audio(tmp_path / "clip.mp3", seconds=SECONDS, sample_rate=source_rate)
    assert_duration(
        load_audio(path, sample_rate=TARGET_RATE), seconds=SECONDS, ext="mp3", source_rate=source_rate
    )


def test_resampling_preserves_pitch(tmp_path: Path) -> None:
    """A 1 kHz tone at 44.1 kHz must still peak at 1 kHz after resampling to 16 kHz."""
    rate = 44_100
    tone = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate) / rate)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "tone.wav", rate, tone)
    waveform = load_audio(tmp_path / "tone.wav", sample_rate=TARGET_RATE)
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.argmax(spectrum) * TARGET_RATE / waveform.size == pytest.approx(1000, abs=2)


def test_same_rate_is_returned_unresampled(tmp_path: Path) -> None:
    samples = np.linspace(-0.5, 0.5, 16_000, dtype=np.float32)
    scipy.io.wavfile.write(tmp_path / "ramp.wav", TARGET_RATE, samples)
    np.testing.assert_array_equal(load_audio(tmp_path / "ramp.wav", sample_rate=TARGET_RATE), samples)


def test_bytes_path_and_file_object_give_the_same_waveform(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "clip.m4a", seconds=SECONDS)
    from_path = load_audio(path, sample_rate=TARGET_RATE)
    np.testing.assert_array_equal(load_audio(path.read_bytes(), sample_rate=TARGET_RATE), from_path)
    with path.open("rb") as handle:
        np.testing.assert_array_equal(load_audio(handle, sample_rate=TARGET_RATE), from_path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x00\x01garbage" * 100, "not a supported audio file"),
        (b"<html><body>not a song</body></html>", "not a supported audio file"),
        (b'{"tags": ["rock"]}', "not a supported audio file"),
        # An HLS playlist must never make FFmpeg open the files or URLs it names.
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", "not a supported audio file"),
    ],
)
def test_non_audio_is_undecodable(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "upload.mp3"
    path.write_bytes(content)
    with pytest.raises(UndecodableAudioError, match=reason):
        load_audio(path, sample_rate=TARGET_RATE)


def test_video_only_file_has_no_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "video.mkv"
    import subprocess

    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x32:d=1",
            "-c:v",
            "ffv1",
            str(path),
        ],
        check=True,
    )
    with pytest.raises(UndecodableAudioError, match="no audio stream"):
        load_audio(path, sample_rate=TARGET_RATE)


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load_audio(tmp_path / "empty.wav", sample_rate=TARGET_RATE)
    with pytest.raises(EmptyAudioError):
        load_audio(b"", sample_rate=TARGET_RATE)


def test_header_without_samples_is_empty(tmp_path: Path) -> None:
    scipy.io.wavfile.write(tmp_path / "header-only.wav", TARGET_RATE, np.zeros(0, np.int16))
    with pytest.raises(EmptyAudioError, match="no audio samples"):
        load_audio(tmp_path / "header-only.wav", sample_rate=TARGET_RATE)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_float_wav_is_rejected(tmp_path: Path, bad_value: float) -> None:
    samples = np.zeros(TARGET_RATE, np.float32)
    samples[1234] = bad_value
    scipy.io.wavfile.write(tmp_path / "bad.wav", TARGET_RATE, samples)
    with pytest.raises(NonFiniteAudioError, match="NaN or infinite"):
        load_audio(tmp_path / "bad.wav", sample_rate=TARGET_RATE)


def test_too_short(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "blip.wav", seconds=0.05)
    with pytest.raises(AudioTooShortError, match=r"0\.050 s long; at least 0\.5 s"):
        load_audio(path, sample_rate=TARGET_RATE, min_seconds=0.5)


def test_too_long_by_header(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "long.flac", seconds=12.0)
    with pytest.raises(AudioTooLongError, match="limit is 10 s"):
        load_audio(path, sample_rate=TARGET_RATE, max_seconds=10)


def test_too_long_is_caught_while_decoding_when_the_header_hides_the_length(tmp_path: Path) -> None:
    """A FLAC whose STREAMINFO says 'length unknown' must still stop at the limit, not decode it all."""
    path = make_audio(tmp_path / "bomb.flac", seconds=30.0, source="silence")
    data = bytearray(path.read_bytes())
    # STREAMINFO's 36-bit total-samples field: low nibble of byte 21, bytes 22-25 (after "fLaC" + header).
    data[21] &= 0xF0
    data[22:26] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioTooLongError, match="longer than the 10 s limit"):
        load_audio(path, sample_rate=TARGET_RATE, max_seconds=10)


def test_silence_is_valid_audio(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "silence.ogg", seconds=SECONDS, source="silence")
    waveform = load_audio(path, sample_rate=TARGET_RATE)
    assert_duration(waveform, seconds=SECONDS, ext="ogg", source_rate=44_100)
    assert np.abs(waveform).max() < 1e-3
