"""A synthetic labelled music dataset: songs composed in Python as MIDI, rendered by fluidsynth.

Labels are exact because the composer chose them: which of 11 instruments play (every chosen one
plays throughout), the tempo class and the mode. Songs come from synthetic "artists", each with a
palette of favourite instruments, a favourite tempo class and a taste for minor keys, so tracks by
one artist resemble each other and a split that ignored artists would leak, as with real music.
Everything follows from the seed: the same seed and soundfont give the same samples.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile
from tqdm import tqdm

from tagger.tracks import Track
from training.dataset import write_manifest, write_vocabulary

log = logging.getLogger(__name__)

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9
PEAK_LEVEL = 0.9
FADE_SECONDS = 0.02


@dataclass(frozen=True)
class Instrument:
    """A General MIDI program (None: the drum kit), the part it plays, and the lowest note of its register."""

    program: int | None
    role: str
    low_note: int


INSTRUMENTS: dict[str, Instrument] = {
    "piano": Instrument(0, "comping", 60),
    "organ": Instrument(16, "pad", 60),
    "acoustic_guitar": Instrument(25, "arpeggio", 52),
    "electric_guitar": Instrument(29, "power_chords", 40),
    "bass": Instrument(33, "bass", 28),
    "strings": Instrument(48, "pad", 55),
    "brass": Instrument(61, "stabs", 55),
    "saxophone": Instrument(65, "melody", 60),
    "flute": Instrument(73, "melody", 72),
    "synth_pad": Instrument(89, "pad", 60),
    "drums": Instrument(None, "drums", 36),
}
TEMPO_CLASSES: dict[str, tuple[int, int]] = {"slow": (60, 90), "medium": (90, 130), "fast": (130, 180)}
SCALES: dict[str, tuple[int, ...]] = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Chord progressions as scale degrees (0 = tonic), one chord per bar.
PROGRESSIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
}
VOCABULARY: list[str] = [*INSTRUMENTS, *TEMPO_CLASSES, *SCALES]
PALETTE_SIZE = 5
OFF_PALETTE_PROBABILITY = 0.2
KICK, SNARE, HI_HAT = 36, 38, 42


@dataclass(frozen=True)
class SynthConfig:
    """How many songs, how long, at which rate, from which seed and with which soundfont."""

    num_artists: int = 20
    songs_per_artist: int = 5
    seconds: float = 10.0
    sample_rate: int = 22_050
    seed: int = 0
    soundfont: Path = DEFAULT_SOUNDFONT
    jobs: int = 2


@dataclass(frozen=True)
class Artist:
    palette: tuple[str, ...]
    tempo_class: str
    minor_probability: float


@dataclass(frozen=True)
class Song:
    instruments: tuple[str, ...]
    tempo_bpm: float
    mode: str
    key: int
    progression: tuple[int, ...]

    @property
    def tempo_class(self) -> str:
        return next(name for name, (low, high) in TEMPO_CLASSES.items() if low <= self.tempo_bpm < high)

    @property
    def tags(self) -> tuple[str, ...]:
        return (*self.instruments, self.tempo_class, self.mode)


def make_artist(rng: np.random.Generator) -> Artist:
    palette = tuple(rng.choice(list(INSTRUMENTS), size=PALETTE_SIZE, replace=False))
    return Artist(palette, str(rng.choice(list(TEMPO_CLASSES))), float(rng.uniform(0.2, 0.8)))


def compose(artist: Artist, rng: np.random.Generator) -> Song:
    """1-4 instruments mostly from the artist's palette, a tempo mostly in its favourite class, key, mode."""
    instruments = list(rng.choice(artist.palette, size=rng.integers(1, 5), replace=False))
    if rng.random() < OFF_PALETTE_PROBABILITY:
        outsiders = [name for name in INSTRUMENTS if name not in artist.palette]
        instruments[rng.integers(len(instruments))] = str(rng.choice(outsiders))
    tempo_class = artist.tempo_class if rng.random() < 0.7 else str(rng.choice(list(TEMPO_CLASSES)))
    mode = "minor" if rng.random() < artist.minor_probability else "major"
    progressions = PROGRESSIONS[mode]
    return Song(
        instruments=tuple(sorted(set(instruments), key=list(INSTRUMENTS).index)),
        tempo_bpm=float(rng.uniform(*TEMPO_CLASSES[tempo_class])),
        mode=mode,
        key=int(rng.integers(12)),
        progression=progressions[rng.integers(len(progressions))],
    )


def to_midi(song: Song, seconds: float, rng: np.random.Generator) -> mido.MidiFile:
    """One track per instrument, enough bars to last `seconds`."""
    num_bars = int(np.ceil(seconds * song.tempo_bpm / 60 / 4))
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo_bpm))]))
    for channel, name in enumerate(song.instruments):
        instrument = INSTRUMENTS[name]
        channel = DRUM_CHANNEL if instrument.program is None else channel + (channel >= DRUM_CHANNEL)
        notes = [note for bar in range(num_bars) for note in _bar_notes(song, instrument, bar, rng)]
        midi.tracks.append(_track(notes, channel, instrument.program))
    return midi


def _bar_notes(song: Song, instrument: Instrument, bar: int, rng: np.random.Generator) -> Iterator[tuple]:
    """(start beat, length in beats, MIDI note, velocity) of every note `instrument` plays in `bar`."""
    scale = SCALES[song.mode]
    degree = song.progression[bar % len(song.progression)]
    chord = [scale[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) for i in range(3)]
    root = instrument.low_note + (song.key + chord[0] - instrument.low_note) % 12
    voicing = [root + interval - chord[0] for interval in chord]
    start = 4.0 * bar

    def velocity() -> int:
        return int(rng.integers(70, 110))

    if instrument.role == "pad":
        yield from ((start, 4.0, note, 70) for note in voicing)
    elif instrument.role == "comping":
        yield from ((start + beat, 0.9, note, velocity()) for beat in range(4) for note in voicing)
    elif instrument.role == "arpeggio":
        pattern = [voicing[0], voicing[1], voicing[2], voicing[0] + 12]
        yield from ((start + step / 2, 0.5, pattern[step % 4], velocity()) for step in range(8))
    elif instrument.role == "power_chords":
        yield from (
            (start + step / 2, 0.45, note, velocity()) for step in range(8) for note in (root, root + 7)
        )
    elif instrument.role == "bass":
        yield from ((start + beat, 0.9, root + (7 if beat == 3 else 0), velocity()) for beat in range(4))
    elif instrument.role == "stabs":
        yield from ((start + beat, 0.25, note, velocity()) for beat in (1, 3) for note in voicing)
    elif instrument.role == "melody":
        position = start
        while position < start + 4:
            length = float(rng.choice([0.5, 1.0]))
            step = int(rng.integers(7))
            note = instrument.low_note + (song.key + scale[step] - instrument.low_note) % 12
            yield position, length, note, velocity()
            position += length
    elif instrument.role == "drums":
        yield from ((start + step / 2, 0.25, HI_HAT, velocity()) for step in range(8))
        yield from ((start + beat, 0.25, KICK if beat % 2 == 0 else SNARE, velocity()) for beat in range(4))
    else:
        raise ValueError(f"Unknown role {instrument.role!r}.")


def _track(notes: list[tuple], channel: int, program: int | None) -> mido.MidiTrack:
    events: list[tuple[int, int, mido.Message]] = []  # (tick, note-offs first, message)
    for start, length, note, velocity in notes:
        on, off = round(start * TICKS_PER_BEAT), round((start + length) * TICKS_PER_BEAT)
        events.append((on, 1, mido.Message("note_on", channel=channel, note=note, velocity=velocity)))
        events.append((off, 0, mido.Message("note_off", channel=channel, note=note, velocity=0)))
    track = mido.MidiTrack()
    if program is not None:
        track.append(mido.Message("program_change", channel=channel, program=program))
    now = 0
    for tick, _, message in sorted(events, key=lambda event: event[:2]):
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def render(midi_path: Path, output_path: Path, *, soundfont: Path, sample_rate: int, seconds: float) -> None:
    """fluidsynth to float WAV, then cut to `seconds` with a short fade, peak-normalised, as 16-bit FLAC."""
    with tempfile.TemporaryDirectory() as scratch:
        rendered = Path(scratch) / "rendered.wav"
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-r",
                str(sample_rate),
                "-O",
                "float",
                "-T",
                "wav",
                "-F",
                str(rendered),
                str(soundfont),
                str(midi_path),
            ],
            check=True,
            capture_output=True,
        )
        audio, _ = soundfile.read(rendered, dtype="float32")
    audio = audio[: round(seconds * sample_rate)]
    fade = min(round(FADE_SECONDS * sample_rate), len(audio))
    audio[len(audio) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, np.newaxis]
    audio *= PEAK_LEVEL / max(float(np.abs(audio).max()), 1e-9)
    soundfile.write(output_path, audio, sample_rate, format="FLAC", subtype="PCM_16")


def generate(config: SynthConfig, output_dir: Path) -> list[Track]:
    """Write `audio/*.flac`, `midi/*.mid`, `manifest.csv` and `vocabulary.txt` under `output_dir`."""
    if not Path(config.soundfont).is_file():
        raise FileNotFoundError(f"Soundfont {config.soundfont} not found (Debian: timgm6mb-soundfont).")
    output_dir = Path(output_dir)
    for folder in ("audio", "midi"):
        (output_dir / folder).mkdir(parents=True, exist_ok=True)
    jobs = [(artist, song) for artist in range(config.num_artists) for song in range(config.songs_per_artist)]
    started = time.monotonic()
    with ThreadPoolExecutor(config.jobs) as pool:
        songs = list(
            tqdm(
                pool.map(lambda job: _make_song(config, output_dir, *job), jobs),
                total=len(jobs),
                desc="rendering",
                unit="song",
            )
        )
    elapsed = time.monotonic() - started
    log.info(
        "rendered %d songs of %g s in %.1f s: %.3f s per song, %.0fx real time (%d jobs)",
        len(songs),
        config.seconds,
        elapsed,
        elapsed / len(songs),
        len(songs) * config.seconds / elapsed,
        config.jobs,
    )
    write_manifest(output_dir / "manifest.csv", songs)
    write_vocabulary(output_dir / "vocabulary.txt", VOCABULARY)
    return songs


def _make_song(config: SynthConfig, output_dir: Path, artist_index: int, song_index: int) -> Track:
    # Each song's randomness depends only on (seed, artist, song), never on rendering order.
    artist = make_artist(np.random.default_rng([config.seed, artist_index]))
    rng = np.random.default_rng([config.seed, artist_index, song_index])
    song = compose(artist, rng)
    group = f"synth{config.seed}-artist{artist_index:03d}"
    stem = f"{group}-song{song_index:02d}"
    midi_path, audio_path = output_dir / "midi" / f"{stem}.mid", output_dir / "audio" / f"{stem}.flac"
    to_midi(song, config.seconds, rng).save(midi_path)
    render(
        midi_path,
        audio_path,
        soundfont=config.soundfont,
        sample_rate=config.sample_rate,
        seconds=config.seconds,
    )
    return Track(audio=str(audio_path.resolve()), tags=song.tags, group=group)
