"""`python -m training train --config teacher.toml`: supervised training of one model (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

import keras

from training.commands import configure_logging
from training.config import SupervisedConfig, load_config
from training.train import TaggingData, distribution_strategy, train_supervised


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="TOML file (see training/configs/)")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    config = load_config(args.config, SupervisedConfig)
    keras.utils.set_random_seed(config.fit.seed)
    train_supervised(
        config.model,
        TaggingData.load(config.data),
        config.fit,
        config.augmentation,
        run_dir=config.run_dir,
        strategy=distribution_strategy(),
        name=config.model.preset,
    )
    return 0
