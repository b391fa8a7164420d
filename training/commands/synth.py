"""`python -m training synth`: render a synthetic labelled dataset (audio, manifest.csv, vocabulary.txt)."""

from __future__ import annotations

import argparse
from pathlib import Path

from training.commands import configure_logging
from training.synth import DEFAULT_SOUNDFONT, SynthConfig, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SynthConfig()
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for audio/, midi/, the manifest and vocabulary"
    )
    parser.add_argument("--num-artists", type=int, default=defaults.num_artists)
    parser.add_argument("--songs-per-artist", type=int, default=defaults.songs_per_artist)
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="length of every song")
    parser.add_argument(
        "--sample-rate", type=int, default=defaults.sample_rate, help="rate of the rendered files"
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help="the same seed renders the same songs"
    )
    parser.add_argument("--soundfont", type=Path, default=DEFAULT_SOUNDFONT, help="a General MIDI .sf2 file")
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="fluidsynth processes at once")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    config = SynthConfig(
        num_artists=args.num_artists,
        songs_per_artist=args.songs_per_artist,
        seconds=args.seconds,
        sample_rate=args.sample_rate,
        seed=args.seed,
        soundfont=args.soundfont,
        jobs=args.jobs,
    )
    generate(config, args.output)
    return 0
