"""The model zoo: every architecture by name, and named presets that fix the front end and the sizes.

Two ways in:

    model = build_preset("transformer_student", num_tags=50)
    model = build_model("transformer", FrontendSpec(), num_tags=50, attention_width=128)

`PRESETS[name].frontend` is the `FrontendSpec` to crop, train, evaluate and export that model with.
Every model maps a (batch, window_samples) float32 waveform to {"scores": (batch, num_tags) sigmoid,
"embedding": (batch, embedding_size)}, which is what `training.export.export_model` expects.

| preset                | input            | parameters, 50 tags                                 |
|-----------------------|------------------|-----------------------------------------------------|
| `transformer`         | 10 s @ 22.05 kHz | 4.57 M, the paper's teacher                         |
| `transformer_compact` | 10 s @ 22.05 kHz | 1.11 M, the authors' "compact student"              |
| `transformer_student` | 10 s @ 22.05 kHz | 0.49 M, ≈ the paper's 0.5 M distilled student       |
| `transformer_tiny`    | 2 s @ 22.05 kHz  | 42 k, for tests and CPU experiments                 |
| `resnet`              | 3.69 s @ 16 kHz  | 12.1 M, the short-chunk ResNet                      |
| `resnet_student`      | 3.69 s @ 16 kHz  | 3.04 M, half width (the paper's distilled: 3.4 M)   |
| `resnet_tiny`         | 2 s @ 16 kHz     | 51 k, for tests and CPU experiments                 |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from tagger.model_format import FrontendSpec
from training.musicnn import VggConfig, build_vgg
from training.resnet import SHORT_CHUNK_FRONTEND, ResNetConfig, build_resnet
from training.transformer import TransformerConfig, build_transformer

ArchitectureConfig = TransformerConfig | ResNetConfig | VggConfig


@dataclass(frozen=True)
class Architecture:
    """A builder and the config dataclass whose fields are its sizes."""

    config_type: type[ArchitectureConfig]
    build: Callable[..., keras.Model]


@dataclass(frozen=True)
class Preset:
    """A named, reproducible model: which architecture, fed by which front end, at which sizes."""

    architecture: str
    frontend: FrontendSpec
    config: ArchitectureConfig


ARCHITECTURES: dict[str, Architecture] = {
    "transformer": Architecture(TransformerConfig, build_transformer),
    "resnet": Architecture(ResNetConfig, build_resnet),
    # musicnn's VGG-like short-chunk CNN (3 s windows), the family of two of the ported teachers.
    "vgg": Architecture(
        VggConfig,
        lambda frontend, config, num_tags, name: build_vgg(
            dataclasses.replace(config, num_tags=num_tags), frontend, name
        ),
    ),
}

PAPER_FRONTEND = FrontendSpec()
PRESETS: dict[str, Preset] = {
    "transformer": Preset("transformer", PAPER_FRONTEND, TransformerConfig()),
    "transformer_compact": Preset(
        "transformer", PAPER_FRONTEND, TransformerConfig(attention_width=64, ffn_width=256)
    ),
    "transformer_student": Preset(
        "transformer", PAPER_FRONTEND, TransformerConfig(conv_channels=64, attention_width=64, ffn_width=256)
    ),
    "transformer_tiny": Preset(
        "transformer",
        dataclasses.replace(PAPER_FRONTEND, window_samples=44_100),
        TransformerConfig(conv_channels=8, attention_width=32, num_layers=2, num_heads=4, ffn_width=64),
    ),
    "resnet": Preset("resnet", SHORT_CHUNK_FRONTEND, ResNetConfig()),
    "resnet_student": Preset("resnet", SHORT_CHUNK_FRONTEND, ResNetConfig(base_channels=64)),
    "resnet_tiny": Preset(
        "resnet",
        dataclasses.replace(SHORT_CHUNK_FRONTEND, window_samples=32_000),
        ResNetConfig(base_channels=8),
    ),
}


def build_model(
    architecture: str, frontend: FrontendSpec, num_tags: int, *, name: str | None = None, **sizes: Any
) -> keras.Model:
    """A fresh `architecture` model; `sizes` override fields of its config dataclass (paper defaults)."""
    entry = _lookup(ARCHITECTURES, architecture, "architecture")
    known_sizes = {field.name for field in dataclasses.fields(entry.config_type)}
    if unknown := sorted(set(sizes) - known_sizes):
        raise ValueError(
            f"Unknown sizes for {architecture!r}; the known ones are {sorted(known_sizes)}. "
            f"Received: {unknown}."
        )
    return entry.build(frontend, entry.config_type(**sizes), num_tags, name=name or architecture)


def build_preset(preset: str, num_tags: int) -> keras.Model:
    """A fresh model for a named preset, named after it; its front end is `PRESETS[preset].frontend`."""
    entry = _lookup(PRESETS, preset, "preset")
    return build_model(
        entry.architecture, entry.frontend, num_tags, name=preset, **dataclasses.asdict(entry.config)
    )


def _lookup(registry: dict[str, Any], key: str, kind: str) -> Any:
    if key not in registry:
        raise ValueError(f"Unknown {kind}; the known ones are {sorted(registry)}. Received: {kind}={key!r}.")
    return registry[key]
