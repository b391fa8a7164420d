"""The synthetic music generator: labels match what the MIDI plays, audio is deterministic by seed."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile

from tagger.tracks import read_manifest
from training.__main__ import main
from training.dataset import read_vocabulary
from training.synth import DRUM_CHANNEL, INSTRUMENTS, SCALES, TEMPO_CLASSES, SynthConfig, generate

SECONDS = 3.0
RATE = 16_000
OTHER_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    main(
        [
            "synth",
            "--output",
            str(folder),
            "--num-artists",
            "4",
            "--songs-per-artist",
            "3",
            "--seconds",
            str(SECONDS),
            "--sample-rate",
            str(RATE),
            "--seed",
            "3",
        ]
    )
    return folder


def test_manifest_vocabulary_and_audio(rendered: Path) -> None:
    tracks = read_manifest(rendered / "manifest.csv")
    vocabulary = read_vocabulary(rendered / "vocabulary.txt")
    assert len(tracks) == 12 and len({t.group for t in tracks}) == 4
    assert len(set(INSTRUMENTS) & set(vocabulary)) >= 10
    for track in tracks:
        assert set(track.tags) <= set(vocabulary)
        assert len(set(track.tags) & set(TEMPO_CLASSES)) == 1 and len(set(track.tags) & set(SCALES)) == 1
        audio, rate = soundfile.read(track.audio)
        assert rate == RATE and len(audio) == SECONDS * RATE
        assert np.abs(audio).max() == pytest.approx(0.9, abs=1e-3)


def test_labels_are_what_the_midi_plays(rendered: Path) -> None:
    programs = {instrument.program: name for name, instrument in INSTRUMENTS.items()}
    for track in read_manifest(rendered / "manifest.csv"):
        midi = mido.MidiFile(rendered / "midi" / (Path(track.audio).stem + ".mid"))
        messages = [message for part in midi.tracks for message in part]
        played = {programs[m.program] for m in messages if m.type == "program_change"}
        if any(m.type == "note_on" and m.channel == DRUM_CHANNEL for m in messages):
            played.add("drums")
        assert played == set(track.tags) & set(INSTRUMENTS)
        [tempo] = [mido.tempo2bpm(m.tempo) for m in messages if m.type == "set_tempo"]
        low, high = TEMPO_CLASSES[next(tag for tag in track.tags if tag in TEMPO_CLASSES)]
        assert low <= tempo < high
        # Every chosen instrument is sounding during the last second of the rendered audio.
        for part in midi.tracks[1:]:
            assert any(
                on < SECONDS and off > SECONDS - 1.0
                for on, off in note_spans(part, tempo, midi.ticks_per_beat)
            )


def note_spans(part: mido.MidiTrack, tempo_bpm: float, ticks_per_beat: int) -> list[tuple[float, float]]:
    """(start, end) in seconds of every note in a track."""
    seconds = np.cumsum([message.time for message in part]) / ticks_per_beat * 60 / tempo_bpm
    sounding: dict[int, float] = {}
    spans = []
    for time, message in zip(seconds, part, strict=True):
        if message.type == "note_on" and message.velocity > 0:
            sounding[message.note] = time
        elif message.type in ("note_off", "note_on") and message.note in sounding:
            spans.append((sounding.pop(message.note), time))
    return spans


def test_rendering_is_deterministic_by_seed_and_depends_on_the_soundfont(
    rendered: Path, tmp_path: Path
) -> None:
    config = SynthConfig(num_artists=1, songs_per_artist=2, seconds=SECONDS, sample_rate=RATE, seed=3)
    again = generate(config, tmp_path / "again")
    first = read_manifest(rendered / "manifest.csv")[:2]
    assert [t.tags for t in again] == [t.tags for t in first]
    for new, old in zip(again, first, strict=True):
        np.testing.assert_array_equal(soundfile.read(new.audio)[0], soundfile.read(old.audio)[0])
    other_seed = generate(
        SynthConfig(num_artists=1, songs_per_artist=2, seconds=SECONDS, sample_rate=RATE, seed=4),
        tmp_path / "other",
    )
    assert {t.group for t in other_seed}.isdisjoint(t.group for t in first)
    if not OTHER_SOUNDFONT.exists():
        pytest.skip("fluid-soundfont-gm is not installed (the Makefile's SYSTEM_PACKAGES installs it)")
    other_font = generate(SynthConfig(**{**vars(config), "soundfont": OTHER_SOUNDFONT}), tmp_path / "font")
    assert [t.tags for t in other_font] == [t.tags for t in first]
    assert not np.array_equal(soundfile.read(other_font[0].audio)[0], soundfile.read(first[0].audio)[0])
