"""Typed, frozen configuration for the training commands, read once from a TOML file at the entry point.

`load_config(path, SupervisedConfig)` turns `[section]` tables into the nested dataclasses below and
rejects unknown keys, so a typo in a config file is an error instead of a silently ignored setting.
Relative paths are relative to the working directory (the repository root in the docs).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import keras
import tomllib

from tagger.model_format import FrontendSpec
from training.augment import AugmentationConfig
from training.zoo import PRESETS, build_model

T = TypeVar("T")


@dataclass(frozen=True)
class ModelConfig:
    """A zoo preset, optionally with other sizes or another window length (same sample rate)."""

    preset: str
    sizes: dict[str, Any] = field(default_factory=dict)
    window_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(
                f"Unknown preset; the known ones are {sorted(PRESETS)}. Received: {self.preset!r}."
            )

    @property
    def frontend(self) -> FrontendSpec:
        """The front end to decode, crop, train, evaluate and export this model with."""
        frontend = PRESETS[self.preset].frontend
        if self.window_seconds is None:
            return frontend
        return dataclasses.replace(frontend, window_samples=round(self.window_seconds * frontend.sample_rate))

    def build(self, num_tags: int, name: str) -> keras.Model:
        preset = PRESETS[self.preset]
        sizes = {**dataclasses.asdict(preset.config), **self.sizes}
        return build_model(preset.architecture, self.frontend, num_tags, name=name, **sizes)


@dataclass(frozen=True)
class DataConfig:
    """Manifests from `python -m training split` (or any with a split per row) and the vocabulary."""

    train: Path
    valid: Path
    vocabulary: Path
    unlabelled: Path | None = None
    cache_dir: Path | None = None  # None caches decoded tracks in memory


@dataclass(frozen=True)
class FitConfig:
    """How long and how fast to train; the defaults are the reference recipe (Adam 1e-4, BCE)."""

    batch_size: int = 32
    epochs: int = 200
    steps_per_epoch: int | None = None  # None: one pass over the training (or unlabelled) tracks
    learning_rate: float = 1e-4
    patience: int = 20
    augment: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 2 or self.batch_size % 2:
            raise ValueError(
                f"`batch_size` must be even (half labelled, half unlabelled). Received: {self.batch_size}."
            )


@dataclass(frozen=True)
class SupervisedConfig:
    """`python -m training train`: one model on the labelled data."""

    run_dir: Path
    model: ModelConfig
    data: DataConfig
    fit: FitConfig = FitConfig()
    augmentation: AugmentationConfig = AugmentationConfig()


@dataclass(frozen=True)
class NoisyStudentConfig:
    """`python -m training noisy-student`: a student (of any size) taught by a trained teacher."""

    run_dir: Path
    teacher: Path  # a .keras model, e.g. the `model.keras` a `train` run writes
    model: ModelConfig  # the student
    data: DataConfig
    rounds: int = 1
    fit: FitConfig = FitConfig()
    augmentation: AugmentationConfig = AugmentationConfig()


def load_config(path: Path, config_type: type[T]) -> T:
    with Path(path).open("rb") as file:
        return from_dict(config_type, tomllib.load(file))


def from_dict(config_type: type[T], values: dict[str, Any]) -> T:  # T: a dataclass
    """Build a (nested) config dataclass from plain values, converting paths and sub-tables by type."""
    hints = typing.get_type_hints(config_type)
    names = {f.name for f in dataclasses.fields(config_type)}  # type: ignore[arg-type]
    if unknown := sorted(set(values) - names):
        raise ValueError(f"Unknown {config_type.__name__} keys {unknown}; expected some of {sorted(names)}.")
    return config_type(**{name: _convert(hints[name], value) for name, value in values.items()})


def _convert(hint: Any, value: Any) -> Any:
    if isinstance(hint, types.UnionType):
        (hint,) = [option for option in typing.get_args(hint) if option is not type(None)]
    if typing.get_origin(hint) is tuple:
        return tuple(_convert(typing.get_args(hint)[0], item) for item in value)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)  # type: ignore[arg-type]
    if hint is Path:
        return Path(value)
    return value
