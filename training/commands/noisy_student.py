"""`python -m training noisy-student --config student.toml`: a student taught by a trained teacher."""

from __future__ import annotations

import argparse
from pathlib import Path

import keras

from training.commands import configure_logging
from training.config import NoisyStudentConfig, load_config
from training.noisy_student import train_rounds
from training.train import TaggingData, TrainedModel, distribution_strategy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="TOML file (see training/configs/)")
    parser.add_argument(
        "--rounds", type=int, help="override the config: each round's student teaches the next"
    )


def run(args: argparse.Namespace) -> int:
    configure_logging()
    config = load_config(args.config, NoisyStudentConfig)
    keras.utils.set_random_seed(config.fit.seed)
    strategy = distribution_strategy()
    with strategy.scope():
        teacher = TrainedModel.load(config.teacher)
    train_rounds(
        teacher,
        config.model,
        TaggingData.load(config.data),
        config.fit,
        config.augmentation,
        rounds=args.rounds or config.rounds,
        run_dir=config.run_dir,
        strategy=strategy,
        name=f"{config.model.preset}_student",
    )
    return 0
