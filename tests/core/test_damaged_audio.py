"""Damaged real-world files decode as far as the ffmpeg CLI decodes them, and say what they lost.

ffmpeg is the oracle: for every file of the damaged corpus the intake's decoded length equals the
CLI's within one codec frame. What was skipped comes back as a `DecodeReport`; too little decoding
is still refused, and so are containers without usable audio, with the reason.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from support.damaged_audio import CODEC_FRAME, RATE, DamagedFile, ffmpeg_decoded_samples
from tagger.audio import decode_audio
from tagger.errors import UndecodableAudioError

CORPUS_CASES = sorted(
    f"{ext}_{damage}"
    for ext in ("mp3", "ogg", "flac", "wav", "m4a", "webm")
    for damage in ("trailing_zeros", "trailing_text", "trailing_noise", "noise_burst", "truncated")
) + sorted(
    ["mp3_cover_2mb", "flac_cover_2mb", "m4a_cover_2mb", "mp3_ape_id3v1", "mp3_lyrics3_id3v1"]
    + ["mp3_leading_junk", "wav_streamed_sizes", "wav_extra_chunks"]
)


def test_the_corpus_has_every_case(damaged_corpus: dict[str, DamagedFile]) -> None:
    assert sorted(damaged_corpus) == sorted(CORPUS_CASES)


@pytest.mark.parametrize("case", CORPUS_CASES)
def test_decoded_length_matches_the_ffmpeg_cli(damaged_corpus: dict[str, DamagedFile], case: str) -> None:
    file = damaged_corpus[case]
    decoded = decode_audio(file.path, sample_rate=RATE)
    expected = ffmpeg_decoded_samples(file.path)
    assert abs(decoded.samples.size - expected) <= CODEC_FRAME[file.path.suffix[1:]], (
        decoded.samples.size,
        expected,
    )
    assert (decoded.report is not None) == file.reported, decoded.report
    if decoded.report is not None:
        assert decoded.report.warning.startswith("damaged audio, tagged from what decodes")
        assert decoded.report.skipped_frames > 0 or decoded.report.missing_seconds > 0


# Only what surrounds the audio is damaged; leading noise is not here: it decodes as two junk frames.
AROUND_THE_AUDIO = [case for case in CORPUS_CASES if "trailing" in case or "cover" in case]
AROUND_THE_AUDIO += ["mp3_ape_id3v1", "mp3_lyrics3_id3v1", "wav_streamed_sizes", "wav_extra_chunks"]


@pytest.mark.parametrize("case", AROUND_THE_AUDIO)
def test_junk_and_tags_around_the_audio_leave_the_samples_untouched(
    damaged_corpus: dict[str, DamagedFile], case: str
) -> None:
    file = damaged_corpus[case]
    np.testing.assert_array_equal(
        decode_audio(file.path, sample_rate=RATE).samples, decode_audio(file.clean, sample_rate=RATE).samples
    )


def test_a_mid_file_burst_is_counted_as_skipped_frames(damaged_corpus: dict[str, DamagedFile]) -> None:
    report = decode_audio(damaged_corpus["m4a_noise_burst"].path, sample_rate=RATE).report
    assert report is not None and report.skipped_frames >= 1 and 0 < report.skipped_seconds < 1
    assert "undecodable frame" in report.warning


def test_too_little_decoding_is_refused_and_the_share_is_configurable(
    damaged_corpus: dict[str, DamagedFile], tmp_path: Path
) -> None:
    """A FLAC cut at 15 % announces 12 s and decodes under 2 s: below the default 25 %."""
    clean = damaged_corpus["flac_truncated"].clean.read_bytes()
    stub = tmp_path / "stub.flac"
    stub.write_bytes(clean[: int(len(clean) * 0.15)])
    with pytest.raises(UndecodableAudioError, match=r"corrupt audio data: only 1\.\d s of 12\.0 s decodes"):
        decode_audio(stub, sample_rate=RATE)
    accepted = decode_audio(stub, sample_rate=RATE, min_decoded_share=0.1)
    assert accepted.report is not None and accepted.report.missing_seconds > 10


def test_a_file_whose_audio_is_noise_throughout_is_refused(damaged_corpus: dict[str, DamagedFile]) -> None:
    """The M4A index is intact but every byte of audio data is noise: nearly every frame is refused."""
    data = bytearray(damaged_corpus["m4a_truncated"].clean.read_bytes())
    audio_data = data.index(b"mdat") + 4
    data[audio_data:] = np.random.default_rng(5).integers(0, 256, len(data) - audio_data, np.uint8).tobytes()
    with pytest.raises(UndecodableAudioError, match=r"corrupt audio data: only 0\.\d s of 12\.0 s decodes"):
        decode_audio(bytes(data), sample_rate=RATE)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


MUSIC = "sine=f=220:d=3:r=48000"
CONTAINERS = {
    "opus.webm": ["-f", "lavfi", "-i", MUSIC, "-c:a", "libopus"],
    "vorbis.webm": ["-f", "lavfi", "-i", MUSIC, "-c:a", "libvorbis"],
    "opus.mka": ["-f", "lavfi", "-i", MUSIC, "-c:a", "libopus"],
    "vorbis.mkv": ["-f", "lavfi", "-i", MUSIC, "-c:a", "libvorbis"],
    # Video first, then audio: the intake takes the first audio stream.
    "video.mp4": ["-f", "lavfi", "-i", "testsrc=s=64x64:d=3", "-f", "lavfi", "-i", MUSIC]
    + ["-map", "0:v", "-map", "1:a", "-c:v", "mpeg4", "-c:a", "aac", "-shortest"],
    "adts.aac": ["-f", "lavfi", "-i", MUSIC, "-c:a", "aac", "-f", "adts"],
    "pcm.aiff": ["-f", "lavfi", "-i", MUSIC],
    "alac.caf": ["-f", "lavfi", "-i", MUSIC, "-c:a", "alac"],
}


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_containers_people_send_decode(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _ffmpeg(*CONTAINERS[name], str(path))
    decoded = decode_audio(path, sample_rate=16_000)
    assert decoded.report is None
    assert abs(decoded.samples.size / 16_000 - 3.0) < 0.05
    spectrum = np.abs(np.fft.rfft(decoded.samples))
    assert np.argmax(spectrum) * 16_000 / decoded.samples.size == pytest.approx(220, abs=2)


def test_a_container_outside_the_whitelist_gets_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "song.au"  # Sun audio: FFmpeg reads it, the whitelist does not allow it
    _ffmpeg("-f", "lavfi", "-i", MUSIC, str(path))
    with pytest.raises(UndecodableAudioError, match="not a supported audio file"):
        decode_audio(path, sample_rate=16_000)
