"""The noisy-student experiment in one command, from synthetic audio to an exported student.

1. Render a labelled synthetic set and split it by artist into train/valid/test; render the unlabelled
   pool from other seeds (so other artists), partly with another soundfont, and check it shares no
   artist or file with valid/test.
2. Train the teacher with augmentation; then an expansion student (teacher-sized) and a distillation
   student (smaller), each taught by the teacher.
3. Evaluate all three on valid and test (song and window level); export the student that is best on
   *validation* PR-AUC (the test split never chooses anything) with its metrics in the model card.

Every step whose output exists is reused, so an interrupted experiment resumes where it stopped;
a folder made with a different config is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import tensorflow as tf

from tagger.model_format import ModelCard
from tagger.tracks import Track, read_manifest
from training.augment import AugmentationConfig
from training.config import FitConfig, ModelConfig
from training.dataset import SPLIT_NAMES, Splits, check_unlabelled, split_by_group, write_manifest
from training.evaluate import (
    bootstrap_pr_auc_difference,
    format_table,
    keras_predictor,
    predict_tracks,
    score_predictions,
)
from training.export import export_model
from training.noisy_student import train_student
from training.synth import VOCABULARY, SynthConfig, generate
from training.train import FINAL_MODEL, TaggingData, TrainedModel, train_supervised

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
REPORT_JSON = "report.json"
REPORT_MARKDOWN = "report.md"
RENDER_TIMING = "render_seconds.json"
STUDENTS = ("expansion", "distillation")


@dataclass(frozen=True)
class ExperimentConfig:
    """Data, models and schedules of the experiment (see training/configs/experiment.toml)."""

    output_dir: Path
    labelled: SynthConfig
    unlabelled: tuple[SynthConfig, ...]
    teacher: ModelConfig
    expansion: ModelConfig
    distillation: ModelConfig
    teacher_fit: FitConfig = FitConfig()
    student_fit: FitConfig = FitConfig()
    augmentation: AugmentationConfig = AugmentationConfig()
    valid_fraction: float = 0.15
    test_fraction: float = 0.25
    bootstrap_resamples: int = 1000
    export_dir: Path = Path("saved_models")
    export_name: str = "synth_noisy_student"


def run_experiment(config: ExperimentConfig, *, strategy: tf.distribute.Strategy) -> dict[str, Any]:
    """Run (or resume) the experiment; returns the report also written to `output_dir`."""
    _claim(config)
    data, splits, render_seconds = prepare_data(config)
    runs = config.output_dir / "runs"
    teacher = _trained(
        runs / "teacher",
        partial(
            train_supervised,
            config.teacher,
            data,
            config.teacher_fit,
            config.augmentation,
            strategy=strategy,
            name="teacher",
        ),
    )
    models = {"teacher": teacher}
    for kind in STUDENTS:
        models[kind] = _trained(
            runs / kind,
            partial(
                train_student,
                teacher,
                getattr(config, kind),
                data,
                config.student_fit,
                config.augmentation,
                strategy=strategy,
                name=f"{kind}_student",
            ),
        )
    predictions = {
        name: {
            split: predict_tracks(
                keras_predictor(trained.model),
                list(getattr(splits, split)),
                trained.frontend,
                hop_samples=trained.frontend.window_samples,
            )
            for split in ("valid", "test")
        }
        for name, trained in models.items()
    }
    targets = {split: data.targets(list(getattr(splits, split))) for split in ("valid", "test")}
    evaluations = {
        name: {
            split: score_predictions(by_split[split], targets[split], data.vocabulary) for split in by_split
        }
        for name, by_split in predictions.items()
    }
    against_teacher = {
        kind: bootstrap_pr_auc_difference(
            targets["test"],
            predictions["teacher"]["test"].song_scores,
            predictions[kind]["test"].song_scores,
            data.vocabulary,
            num_resamples=config.bootstrap_resamples,
        )
        for kind in STUDENTS
    }
    best = max(STUDENTS, key=lambda kind: evaluations[kind]["valid"]["song"]["pr_auc"])
    exported = export_model(
        models[best].model,
        output_dir=config.export_dir,
        name=config.export_name,
        tags=data.vocabulary,
        frontend=models[best].frontend,
        card=_card(config, best, evaluations[best]),
    )
    report = _report(models, evaluations, against_teacher, best, exported, render_seconds)
    _write_report(config.output_dir, report, evaluations[best]["test"])
    return report


def prepare_data(config: ExperimentConfig) -> tuple[TaggingData, Splits, dict[str, float]]:
    """Render (once) and split the data; returns it, the splits and seconds spent rendering each set."""
    data_dir = config.output_dir / "data"
    render_seconds: dict[str, float] = {}
    tracks = _rendered(config.labelled, data_dir / "labelled", render_seconds)
    splits = split_by_group(
        tracks,
        valid_fraction=config.valid_fraction,
        test_fraction=config.test_fraction,
        seed=config.labelled.seed,
    )
    for name in SPLIT_NAMES:
        write_manifest(data_dir / "splits" / f"{name}.csv", getattr(splits, name))
    unlabelled = [
        dataclasses.replace(track, tags=())  # their labels exist but the experiment never uses them
        for index, synth in enumerate(config.unlabelled)
        for track in _rendered(synth, data_dir / f"unlabelled{index}", render_seconds)
    ]
    check_unlabelled(unlabelled, splits)
    log.info(
        "labelled: %s tracks; unlabelled: %d (%.1fx the training split)",
        {name: len(getattr(splits, name)) for name in SPLIT_NAMES},
        len(unlabelled),
        len(unlabelled) / len(splits.train),
    )
    return TaggingData(VOCABULARY, list(splits.train), list(splits.valid), unlabelled), splits, render_seconds


def _rendered(synth: SynthConfig, folder: Path, render_seconds: dict[str, float]) -> list[Track]:
    """The set in `folder`, rendered first if it is not there; records how long rendering took."""
    timing = folder / RENDER_TIMING
    if not timing.exists():
        started = time.monotonic()
        generate(synth, folder)
        timing.write_text(json.dumps(time.monotonic() - started))
    render_seconds[folder.name] = json.loads(timing.read_text())
    return read_manifest(folder / "manifest.csv")


def _trained(run_dir: Path, train: Callable[..., TrainedModel]) -> TrainedModel:
    """The model trained in `run_dir` before, or `train(run_dir=run_dir)` now."""
    return TrainedModel.load(run_dir) if (run_dir / FINAL_MODEL).exists() else train(run_dir=run_dir)


def _claim(config: ExperimentConfig) -> None:
    """Record the config in `output_dir`, or check it is the one recorded there."""
    path = config.output_dir / CONFIG_FILE
    recorded = json.dumps(dataclasses.asdict(config), indent=2, default=str)
    if path.exists() and path.read_text() != recorded:
        raise ValueError(
            f"{config.output_dir} holds an experiment with another config; use a new output_dir."
        )
    config.output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(recorded)


def _card(config: ExperimentConfig, kind: str, evaluation: dict[str, Any]) -> ModelCard:
    student = getattr(config, kind)
    return ModelCard(
        architecture=f"{student.preset} {student.sizes or ''}".strip(),
        training_data=(
            f"synthetic fluidsynth music: {_num_songs(config.labelled)} labelled songs (split by artist), "
            f"{sum(_num_songs(synth) for synth in config.unlabelled)} unlabelled"
        ),
        source=f"python -m training experiment; noisy student ({kind}) of a {config.teacher.preset} teacher",
        metrics=evaluation,
    )


def _num_songs(synth: SynthConfig) -> int:
    return synth.num_artists * synth.songs_per_artist


def _report(
    models: dict[str, TrainedModel],
    evaluations: dict[str, dict[str, Any]],
    against_teacher: dict[str, dict[str, float]],
    best: str,
    exported: Path,
    render_seconds: dict[str, float],
) -> dict[str, Any]:
    rows = {
        name: {
            "parameters": trained.model.count_params(),
            "training_seconds": round(trained.seconds, 1),
            "best_val_loss": trained.best_val_loss,
            **{
                f"{split}_{level}_{metric}": evaluations[name][split][level][metric]
                for split in ("valid", "test")
                for level in ("song", "window")
                for metric in ("roc_auc", "pr_auc")
            },
        }
        for name, trained in models.items()
    }
    teacher_pr_auc = rows["teacher"]["test_song_pr_auc"]
    return {
        "models": rows,
        "exported": str(exported),
        "exported_student": best,
        "students_beating_teacher_on_test_pr_auc": [
            k for k in STUDENTS if rows[k]["test_song_pr_auc"] > teacher_pr_auc
        ],
        "test_song_pr_auc_minus_teacher": against_teacher,
        "render_seconds": render_seconds,
        "excluded_test_tags": evaluations["teacher"]["test"]["song"]["excluded_tags"],
    }


def _write_report(output_dir: Path, report: dict[str, Any], best_test: dict[str, Any]) -> None:
    (output_dir / REPORT_JSON).write_text(json.dumps(report, indent=2))
    lines = [
        "| model | parameters | training s | test song ROC-AUC | test song PR-AUC "
        "| test window ROC-AUC | test window PR-AUC |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {name} | {row['parameters']:,} | {row['training_seconds']:.0f} "
        f"| {row['test_song_roc_auc']:.4f} | "
        f"{row['test_song_pr_auc']:.4f} | {row['test_window_roc_auc']:.4f} | "
        f"{row['test_window_pr_auc']:.4f} |"
        for name, row in report["models"].items()
    ]
    lines.append("")
    lines += [
        f"{kind} minus teacher, test song PR-AUC: {gap['difference']:+.4f} (95% paired bootstrap interval "
        f"{gap['interval_low']:+.4f} to {gap['interval_high']:+.4f}; the student wins in "
        f"{gap['candidate_better_share']:.0%} of resamples)"
        for kind, gap in report["test_song_pr_auc_minus_teacher"].items()
    ]
    lines += [
        "",
        f"exported: {report['exported']} ({report['exported_student']} student)",
        "",
        format_table(best_test),
    ]
    markdown = "\n".join(lines)
    (output_dir / REPORT_MARKDOWN).write_text(markdown + "\n")
    log.info("experiment report:\n%s", markdown)
