"""`python -m training <command>`: every training-side tool behind one entry point.

Each command lives in its own module, which defines `add_arguments(parser)` and `run(args)`;
modules are imported only when their command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "import-musicnn": ("training.import_musicnn", "port the musicnn checkpoints to SavedModels"),
    "synth": ("training.commands.synth", "render a synthetic labelled music dataset with fluidsynth"),
    "split": ("training.commands.split", "split a labelled manifest by artist into train/valid/test"),
    "train": ("training.commands.train", "train a tagger on labelled audio (supervised)"),
    "noisy-student": ("training.commands.noisy_student", "train a student on a teacher's pseudo-labels"),
    "evaluate": ("training.commands.evaluate", "ROC-AUC and PR-AUC of an exported model on a manifest"),
    "experiment": ("training.commands.experiment", "the whole noisy-student experiment on synthetic music"),
    "music-student": (
        "training.commands.music_student",
        "four pretrained teachers teach one student, real music",
    ),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (module_name, summary) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        if argv and argv[0] == name:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
