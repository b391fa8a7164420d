"""`python -m training music-student`: the four pretrained teachers teach one two-vocabulary student on
real music (Debian game soundtracks). Resumable: rerun the same command after an interruption."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import tensorflow as tf

from tagger.settings import Runtime
from training.commands import configure_logging
from training.music_student import MusicStudentConfig, Paths, run_music_student


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = MusicStudentConfig()
    for field in dataclasses.fields(MusicStudentConfig):
        flag, default = f"--{field.name.replace('_', '-')}", getattr(defaults, field.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    paths = Paths()
    for field in dataclasses.fields(Paths):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}", type=Path, default=getattr(paths, field.name)
        )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for the teachers and for training (default 1: the machine is shared)",
    )


def run(args: argparse.Namespace) -> int:
    configure_logging()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    config = MusicStudentConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(MusicStudentConfig)}
    )
    paths = Paths(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Paths)})
    report = run_music_student(
        config, paths, Runtime(intra_op_threads=args.threads, inter_op_threads=args.threads)
    )
    sys.stdout.write(
        json.dumps(
            {"chosen": report["chosen"], "exported": report["exported"], "test": report["test"]}, indent=2
        )
        + "\n"
    )
    return 0
