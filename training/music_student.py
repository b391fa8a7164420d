"""The music-student experiment: four pretrained teachers teach one two-vocabulary student on real music.

Steps, each resumed from its saved output when rerun: fetch the Debian pool and split it by package;
cut every track's grid windows; score them with the four teachers (cached pseudo-labels); train each
candidate student; pick one on the valid packages; measure it on the test packages; export it.
See docs/noisy-student.md ("Real music").
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from tagger.audio import load_audio
from tagger.inference import ServingModel
from tagger.model_format import SCORES_OUTPUT, FrontendSpec, ModelCard, read_metadata
from tagger.repository import ModelRepository, load_model
from tagger.settings import Runtime
from tagger.tracks import Track
from training.agreement import agreement
from training.augment import AugmentationConfig
from training.config import FitConfig
from training.dataset import SPLIT_NAMES, Splits
from training.export import export_model
from training.musicnn import VggConfig
from training.pool import fetch_pool, split_pool, subsample
from training.pseudo_labels import (
    TEACHER_BATCH,
    PoolWindows,
    PseudoLabelCache,
    cut_pool,
    ensemble,
    teacher_key,
    teacher_scores,
)
from training.robustness import PERTURBATIONS, Predict, middle_excerpt, movement, perturb, song_vector
from training.slimming import start_from_teacher
from training.student import StandardisedLogitError, build_student, train_student
from training.train import FINAL_MODEL, HISTORY, TrainedModel
from training.transformer import TransformerConfig

log = logging.getLogger(__name__)

# name -> the teachers whose mean is its pseudo-label, in the student's output order.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "msd": ("MSD_musicnn", "MSD_vgg"),
    "mtt": ("MTT_musicnn", "MTT_vgg"),
}
HEADS = dict.fromkeys(VOCABULARIES, 50)
EXPORT_NAME = "music_student"


@dataclass(frozen=True)
class Paths:
    pool_root: Path = Path(".cache/pool")
    run_dir: Path = Path("runs/music-student")
    cache_dir: Path = Path("training/data/music_student/pseudo_labels")
    models_dir: Path = Path("saved_models")


@dataclass
class Labelled:
    """One split's windows and their pseudo-labels: (n, 100) scores, MSD then MTT columns."""

    windows: PoolWindows
    targets: np.ndarray
    tags: list[str] = field(default_factory=list)


def teacher_frontend(models_dir: Path) -> FrontendSpec:
    """The front end all four teachers share (checked): the student is cut and fed the same way."""
    repository = ModelRepository(models_dir)
    specs = {
        read_metadata(repository.resolve(n).path).frontend for names in VOCABULARIES.values() for n in names
    }
    if len(specs) != 1:
        raise ValueError(f"The teachers must share one front end to share a window grid. Received: {specs}.")
    return specs.pop()


def pool_splits(paths: Paths, *, tracks_per_package: int) -> Splits:
    splits = split_pool(subsample(fetch_pool(paths.pool_root), tracks_per_package))
    for name in SPLIT_NAMES:
        tracks = getattr(splits, name)
        log.info("%s: %d tracks from %s", name, len(tracks), sorted({t.group for t in tracks}))
    return splits


@dataclass(frozen=True)
class Teacher:
    model: ServingModel
    key: str  # its pseudo-label cache key (`teacher_key`: name, version and a hash of its files)


def load_teachers(models_dir: Path, runtime: Runtime) -> dict[str, Teacher]:
    """The four teachers, loaded once and each keyed once (the key hashes the whole SavedModel)."""
    repository = ModelRepository(models_dir)
    return {
        name: Teacher(
            load_model(repository.resolve(name).path, runtime), teacher_key(repository.resolve(name).path)
        )
        for names in VOCABULARIES.values()
        for name in names
    }


def ensemble_targets(
    teachers: dict[str, Teacher], windows: PoolWindows, cache: PseudoLabelCache
) -> np.ndarray:
    """(n, 100) pseudo-labels of `windows`: each vocabulary's teacher ensemble, MSD columns then MTT."""
    return np.concatenate(
        [
            ensemble([teachers[n].model for n in names], [teachers[n].key for n in names], windows, cache)
            for names in VOCABULARIES.values()
        ],
        axis=1,
    )


def pseudo_label(
    splits: Splits,
    frontend: FrontendSpec,
    paths: Paths,
    teachers: dict[str, Teacher],
    *,
    windows_per_track: int,
) -> dict[str, Labelled]:
    """Every split's windows (cut once, saved in the run folder) and the teacher ensembles' scores."""
    cache = PseudoLabelCache(paths.cache_dir)
    tags = [
        f"{vocabulary}:{tag}"
        for vocabulary, names in VOCABULARIES.items()
        for tag in teachers[names[0]].model.metadata.tags
    ]
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    labelled = {}
    for split in SPLIT_NAMES:
        tracks = getattr(splits, split)
        saved = paths.run_dir / f"windows_{split}_{windows_per_track}.npz"
        windows = PoolWindows.load(saved, tracks)
        if windows is None:
            windows = cut_pool(tracks, frontend, windows_per_track=windows_per_track)
            windows.save(saved)
        labelled[split] = Labelled(windows, ensemble_targets(teachers, windows, cache), tags)
        log.info("%s: %d windows pseudo-labelled", split, len(windows.starts))
    (paths.run_dir / "teachers.json").write_text(
        json.dumps({name: teacher.key for name, teacher in teachers.items()}, indent=2)
    )
    return labelled


@dataclass(frozen=True)
class Candidate:
    """A student family at CPU size; every candidate gets the same epochs and steps (equal compute).

    `start_from`: a released musicnn VGG whose strongest channels start the trunk and whose tag layer
    starts the head of the same vocabulary (`training.slimming`); otherwise the student starts at random.
    """

    name: str
    architecture: str
    sizes: dict[str, int]
    start_from: str | None = None


CANDIDATES = (
    Candidate("vgg_slim", "vgg", {"filters": 64}, start_from="MSD_vgg"),
    Candidate(
        "transformer",
        "transformer",
        {"conv_channels": 8, "attention_width": 64, "num_layers": 2, "num_heads": 4, "ffn_width": 128},
    ),
    Candidate("resnet", "resnet", {"base_channels": 16}),
)
# The paper-size Music Tagging Transformer (4.45 M parameters, 3.0 GFLOP per audio second at the teachers'
# front end, ~150x the CPU candidates): for a GPU, `--gpu-preset`; its cost is estimated in the docs.
GPU_PRESET = Candidate("transformer_paper", "transformer", dataclasses.asdict(TransformerConfig()))


@dataclass(frozen=True)
class MusicStudentConfig:
    tracks_per_package: int = 1000  # every track of the pool
    windows_per_track: int = 40
    epochs: int = 8
    steps_per_epoch: int = 80
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 5
    seed: int = 0
    bootstrap_resamples: int = 200
    robustness_windows: int = 4  # consecutive windows (12 s) from the middle of each test song
    gpu_preset: bool = False  # train GPU_PRESET instead of the CPU candidates


def serving_predict(model: ServingModel) -> Predict:
    return lambda windows: np.concatenate(
        [
            np.stack([p.scores for p in model.predict(list(windows[i : i + TEACHER_BATCH]))])
            for i in range(0, len(windows), TEACHER_BATCH)
        ]
    )


def keras_predict(model: keras.Model) -> Predict:
    return lambda windows: model.predict(windows, batch_size=TEACHER_BATCH, verbose=0)[SCORES_OUTPUT]


def ms_per_audio_second(predict: Predict, frontend: FrontendSpec, *, runs: int = 3) -> float:
    """Median wall time of scoring 16 windows, per second of audio (a rough in-run figure; see bench/)."""
    windows = (
        np.random.default_rng(0).normal(0, 0.1, (TEACHER_BATCH, frontend.window_samples)).astype(np.float32)
    )
    predict(windows)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predict(windows)
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times)) / (TEACHER_BATCH * frontend.window_seconds)


def train_candidate(
    candidate: Candidate,
    labelled: dict[str, Labelled],
    frontend: FrontendSpec,
    config: MusicStudentConfig,
    run_dir: Path,
) -> tuple[TrainedModel, int]:
    """A finished candidate (loaded when an earlier run finished it) and the epochs it ran."""
    candidate_dir = run_dir / "students" / candidate.name
    if (candidate_dir / FINAL_MODEL).exists():
        trained = TrainedModel.load(candidate_dir)
    else:
        keras.utils.set_random_seed(config.seed)
        student = build_student(
            candidate.architecture, frontend, HEADS, name=f"music_student_{candidate.name}", **candidate.sizes
        )
        if candidate.start_from:
            vocabulary = candidate.start_from.split("_")[0].lower()
            start_from_teacher(
                student,
                candidate.start_from,
                VggConfig(filters=candidate.sizes["filters"]),
                f"{vocabulary}_head",
            )
        trained = train_student(
            student,
            frontend,
            (labelled["train"].windows.waveforms, labelled["train"].targets),
            (labelled["valid"].windows.waveforms, labelled["valid"].targets),
            fit=FitConfig(
                batch_size=config.batch_size,
                epochs=config.epochs,
                steps_per_epoch=config.steps_per_epoch,
                learning_rate=config.learning_rate,
                patience=config.patience,
                seed=config.seed,
            ),
            augmentation=AugmentationConfig(),
            loss=StandardisedLogitError.fitted(labelled["train"].targets),
            run_dir=candidate_dir,
        )
    with (candidate_dir / HISTORY).open() as history:
        epochs = sum(1 for _ in history) - 1
    return trained, epochs


def robustness(
    models: dict[str, tuple[Predict, tuple[int, int]]],
    tracks: tuple[Track, ...],
    frontend: FrontendSpec,
    config: MusicStudentConfig,
) -> dict[str, dict[str, dict[str, float]]]:
    """{model: {perturbation: movement}}; each model's columns `(first, end)` of its predict output."""
    excerpts = [
        middle_excerpt(
            load_audio(t.audio, sample_rate=frontend.sample_rate), frontend, config.robustness_windows
        )
        for t in tqdm(tracks, desc="robustness: decode", unit="song")
    ]
    variants = {"clean": excerpts} | {
        name: [perturb(e, name, frontend.sample_rate, seed=i) for i, e in enumerate(excerpts)]
        for name in PERTURBATIONS
    }
    vectors = {
        model: {
            name: np.stack([song_vector(predict, audio, frontend)[first:end] for audio in songs])
            for name, songs in variants.items()
        }
        for model, (predict, (first, end)) in tqdm(models.items(), desc="robustness: models", unit="model")
    }
    return {
        model: {name: movement(by_variant["clean"], by_variant[name]) for name in PERTURBATIONS}
        for model, by_variant in vectors.items()
    }


def run_music_student(config: MusicStudentConfig, paths: Paths, runtime: Runtime) -> dict[str, Any]:
    """The whole experiment, resumable; returns the report, also written to `<run_dir>/report.json`.

    `runtime` runs the teachers and times the exported candidates (the engine the service would pick);
    training uses TensorFlow's threads.
    """
    splits = pool_splits(paths, tracks_per_package=config.tracks_per_package)
    frontend = teacher_frontend(paths.models_dir)
    teachers = load_teachers(paths.models_dir, runtime)
    labelled = pseudo_label(splits, frontend, paths, teachers, windows_per_track=config.windows_per_track)
    vocabularies = {name: (50 * i, 50 * (i + 1)) for i, name in enumerate(VOCABULARIES)}
    report: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "split": {s: sorted({t.group for t in getattr(splits, s)}) for s in SPLIT_NAMES},
        "windows": {s: len(labelled[s].windows.starts) for s in SPLIT_NAMES},
        "songs": {s: len(getattr(splits, s)) for s in SPLIT_NAMES},
        "teacher_ms_per_audio_second": {
            n: ms_per_audio_second(serving_predict(t.model), frontend) for n, t in teachers.items()
        },
        "candidates": {},
    }
    trained: dict[str, TrainedModel] = {}
    for candidate in (GPU_PRESET,) if config.gpu_preset else CANDIDATES:
        trained[candidate.name], epochs = train_candidate(
            candidate, labelled, frontend, config, paths.run_dir
        )
        model = trained[candidate.name].model
        valid = labelled["valid"]
        report["candidates"][candidate.name] = {
            "sizes": candidate.sizes,
            "start_from": candidate.start_from,
            "parameters": model.count_params(),
            "epochs": epochs,
            "training_seconds": trained[candidate.name].seconds,
            "best_val_loss": trained[candidate.name].best_val_loss,
            "ms_per_audio_second": ms_per_audio_second(
                serving_predict(
                    served_candidate(model, labelled["train"].tags, vocabularies, frontend, paths, runtime)
                ),
                frontend,
            ),
            "valid": agreement(
                valid.targets,
                keras_predict(model)(valid.windows.waveforms),
                valid.windows.track_index,
                vocabularies,
                resamples=0,  # choosing needs the point estimates; intervals are for the test packages
                seed=config.seed,
            ),
        }
    chosen = choose(report)
    student = trained[chosen].model
    test = labelled["test"]
    report["chosen"] = chosen
    report["test"] = agreement(
        test.targets,
        keras_predict(student)(test.windows.waveforms),
        test.windows.track_index,
        vocabularies,
        resamples=config.bootstrap_resamples,
        seed=config.seed,
    )
    cache = PseudoLabelCache(paths.cache_dir)
    report["teacher_agreement"] = teacher_agreement(test, teachers, vocabularies, cache)
    models = {name: (serving_predict(t.model), (0, 50)) for name, t in teachers.items()}
    models |= {f"student ({v})": (keras_predict(student), cols) for v, cols in vocabularies.items()}
    report["robustness"] = robustness(models, splits.test, frontend, config)
    report["exported"] = str(
        export_student(student, frontend, labelled["train"].tags, vocabularies, report, paths)
    )
    (paths.run_dir / "report.json").write_text(json.dumps(report, indent=2))
    (paths.run_dir / "report.md").write_text(report_markdown(report))
    return report


def teacher_agreement(
    test: Labelled,
    teachers: dict[str, Teacher],
    vocabularies: dict[str, tuple[int, int]],
    cache: PseudoLabelCache,
) -> dict[str, dict[str, float]]:
    """The yardstick for the student's agreement: song and window ROC-AUC, on the test windows, of each
    teacher against its own ensemble (of which it is half) and against the other teacher. From the cache."""
    scores = {name: teacher_scores(t.model, t.key, test.windows, cache) for name, t in teachers.items()}
    result = {}
    for vocabulary, (first, end) in vocabularies.items():
        one, other = VOCABULARIES[vocabulary]
        ensemble_scores = test.targets[:, first:end]
        pairs = {
            f"{one} against the {vocabulary} ensemble": (ensemble_scores, scores[one]),
            f"{other} against the {vocabulary} ensemble": (ensemble_scores, scores[other]),
            f"{other} against {one}": (scores[one], scores[other]),
        }
        for label, (reference, candidate) in pairs.items():
            measured = agreement(
                reference,
                candidate,
                test.windows.track_index,
                {vocabulary: (0, end - first)},
                resamples=0,
                seed=0,
            )[vocabulary]
            result[label] = {level: measured[level]["roc_auc"] for level in ("window", "song")}
    return result


def served_candidate(
    model: keras.Model,
    tags: list[str],
    vocabularies: dict[str, tuple[int, int]],
    frontend: FrontendSpec,
    paths: Paths,
    runtime: Runtime,
) -> ServingModel:
    """A candidate exported into the run folder and loaded as the service runs it, so that its cost is
    measured on the teachers' footing (same engine, threads and code path), not through Keras's
    `predict` loop, whose per-call overhead alone made a candidate look several times dearer."""
    version_dir = paths.run_dir / "served" / model.name / "1"
    if not version_dir.exists():
        card = ModelCard(architecture=model.name, training_data="a music-student candidate (report.json)")
        export_model(
            model,
            output_dir=paths.run_dir / "served",
            name=model.name,
            tags=tags,
            frontend=frontend,
            card=card,
            version=1,
            vocabularies=vocabularies,
        )
    return load_model(version_dir, runtime)


def choose(report: dict[str, Any]) -> str:
    """The candidate with the best mean valid song ROC-AUC over both vocabularies among those costing at
    most a quarter of MSD_musicnn in this run; the best overall if none is that cheap."""
    budget = report["teacher_ms_per_audio_second"]["MSD_musicnn"] / 4
    candidates = report["candidates"]

    def score(name: str) -> float:
        return float(np.mean([v["song"]["roc_auc"] for v in candidates[name]["valid"].values()]))

    cheap = [n for n in candidates if candidates[n]["ms_per_audio_second"] <= budget]
    return max(cheap or list(candidates), key=score)


def export_student(
    student: keras.Model,
    frontend: FrontendSpec,
    tags: list[str],
    vocabularies: dict[str, tuple[int, int]],
    report: dict[str, Any],
    paths: Paths,
) -> Path:
    """`saved_models/music_student/<n>`, once per run folder (a rerun finds the version it wrote)."""
    marker = paths.run_dir / "exported_version"
    if marker.exists():
        return paths.models_dir / EXPORT_NAME / marker.read_text().strip()
    chosen = report["candidates"][report["chosen"]]
    card = ModelCard(
        architecture=f"two-head {report['chosen']} student {chosen['sizes']}"
        + (f", started from {chosen['start_from']}'s strongest channels" if chosen["start_from"] else "")
        + ": one trunk and embedding, sigmoid heads for the 50 MSD and the 50 MTT tags",
        training_data="Debian game soundtracks (warzone2100, planetblupi, widelands, colobot, asc), "
        "pseudo-labelled by the means of MSD_musicnn + MSD_vgg and MTT_musicnn + MTT_vgg; no human labels",
        source="python -m training music-student (docs/noisy-student.md)",
        license="ISC (the musicnn teachers); training audio under GPL-2+, GPL-3+ and CC-BY-SA-3.0 "
        "(docs/noisy-student.md)",
        metrics={"test_agreement_with_teachers": report["test"]},
    )
    version_dir = export_model(
        student,
        output_dir=paths.models_dir,
        name=EXPORT_NAME,
        tags=tags,
        frontend=frontend,
        card=card,
        vocabularies=vocabularies,
    )
    marker.write_text(version_dir.name)
    return version_dir


def report_markdown(report: dict[str, Any]) -> str:
    """The report's tables, as pasted into docs/noisy-student.md."""
    lines = [
        "| model | parameters | epochs | training s | s / epoch | ms / audio s (in run) "
        "| valid song ROC-AUC msd / mtt |"
    ]
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    for name, c in report["candidates"].items():
        lines.append(
            f"| {name} | {c['parameters']:,} | {c['epochs']} | {c['training_seconds']:.0f} | "
            f"{c['training_seconds'] / c['epochs']:.0f} | {c['ms_per_audio_second']:.2f} | "
            f"{c['valid']['msd']['song']['roc_auc']:.3f} / {c['valid']['mtt']['song']['roc_auc']:.3f} |"
        )
    lines += [
        "",
        "| vocabulary | level | ROC-AUC (95% interval) | PR-AUC (95% interval) | mean abs diff | rows |",
    ]
    lines.append("|---|---|---|---|---:|---:|")
    for vocabulary, levels in report["test"].items():
        for level, m in levels.items():
            roc, pr = m["roc_auc_interval"], m["pr_auc_interval"]
            lines.append(
                f"| {vocabulary} | {level} | {m['roc_auc']:.3f} ({roc[0]:.3f}-{roc[1]:.3f}) | "
                f"{m['pr_auc']:.3f} ({pr[0]:.3f}-{pr[1]:.3f}) | {m['mean_abs_diff']:.4f} | {m['rows']} |"
            )
    lines += ["", "| teachers | window ROC-AUC | song ROC-AUC |", "|---|---:|---:|"]
    for label, roc in report["teacher_agreement"].items():
        lines.append(f"| {label} | {roc['window']:.3f} | {roc['song']:.3f} |")
    names = list(PERTURBATIONS)
    lines += ["", "| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for model, moved in report["robustness"].items():
        cells = [f"{moved[n]['mean_abs_diff']:.4f} / {moved[n]['cosine_distance']:.4f}" for n in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", "| model (relative to between songs) | " + " | ".join(names) + " |"]
    lines.append("|---|" + "---:|" * len(names))
    for model, moved in report["robustness"].items():
        cells = [f"{moved[n]['relative_to_between_songs']:.3f}" for n in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
