"""`python -m training experiment --config training/configs/experiment.toml`: the whole noisy-student study.

Synthetic data, teacher, expansion and distillation students, evaluation, export; see docs/noisy-student.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras

from training.commands import configure_logging
from training.config import load_config
from training.experiment import ExperimentConfig, run_experiment
from training.train import distribution_strategy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="TOML file (see training/configs/)")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    config = load_config(args.config, ExperimentConfig)
    keras.utils.set_random_seed(config.teacher_fit.seed)
    run_experiment(config, strategy=distribution_strategy())
    return 0
