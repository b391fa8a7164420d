"""The whole loop on a tiny synthetic set with tiny models: teacher, pseudo-labels, students, evaluation,
export in the service's format; plus the `train` and `noisy-student` commands, resumption included."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tagger.model_format import read_metadata
from tagger.repository import ModelRepository
from training.__main__ import main
from training.config import NoisyStudentConfig, SupervisedConfig, load_config
from training.experiment import ExperimentConfig
from training.synth import DEFAULT_SOUNDFONT, VOCABULARY

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OTHER_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
TINY_MODEL = 'preset = "transformer_tiny"\nwindow_seconds = 0.5\n'
TINY_FIT = "batch_size = 4\nepochs = 2\nsteps_per_epoch = 2\npatience = 5\n"


def synth_table(seed: int, num_artists: int, soundfont: Path = DEFAULT_SOUNDFONT) -> str:
    return (
        f"num_artists = {num_artists}\nsongs_per_artist = 3\nseconds = 1.5\nsample_rate = 16000\n"
        f'seed = {seed}\nsoundfont = "{soundfont}"\n'
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loop")
    other = OTHER_SOUNDFONT if OTHER_SOUNDFONT.exists() else DEFAULT_SOUNDFONT
    config = root / "experiment.toml"
    config.write_text(
        f'output_dir = "{root / "experiment"}"\nexport_dir = "{root / "saved_models"}"\n'
        'export_name = "tiny_student"\nvalid_fraction = 0.25\ntest_fraction = 0.3\n'
        "bootstrap_resamples = 100\n"
        f"[labelled]\n{synth_table(0, 8)}"
        f"[[unlabelled]]\n{synth_table(1, 4)}[[unlabelled]]\n{synth_table(2, 4, other)}"
        f"[teacher]\n{TINY_MODEL}[expansion]\n{TINY_MODEL}"
        f"[distillation]\n{TINY_MODEL}sizes = {{ conv_channels = 4, attention_width = 16 }}\n"
        f"[teacher_fit]\n{TINY_FIT}[student_fit]\n{TINY_FIT}"
    )
    assert main(["experiment", "--config", str(config)]) == 0
    return root


def test_the_experiment_reports_teacher_and_both_students(experiment: Path) -> None:
    report = json.loads((experiment / "experiment" / "report.json").read_text())
    rows = report["models"]
    assert set(rows) == {"teacher", "expansion", "distillation"}
    assert (
        rows["expansion"]["parameters"] == rows["teacher"]["parameters"] > rows["distillation"]["parameters"]
    )
    for row in rows.values():
        assert 0.0 <= row["test_song_pr_auc"] <= 1.0 and 0.0 <= row["test_window_roc_auc"] <= 1.0
        assert row["training_seconds"] > 0
    for name in ("teacher", "expansion", "distillation"):
        history = list(csv.DictReader((experiment / "experiment" / "runs" / name / "history.csv").open()))
        assert len(history) == 2
    markdown = (experiment / "experiment" / "report.md").read_text()
    assert "| distillation |" in markdown and "expansion minus teacher, test song PR-AUC" in markdown
    for kind in ("expansion", "distillation"):
        gap = report["test_song_pr_auc_minus_teacher"][kind]
        assert gap["difference"] == pytest.approx(
            rows[kind]["test_song_pr_auc"] - rows["teacher"]["test_song_pr_auc"]
        )
        assert gap["interval_low"] <= gap["interval_high"]


def test_the_best_student_is_exported_in_the_service_format_with_its_metrics(experiment: Path) -> None:
    report = json.loads((experiment / "experiment" / "report.json").read_text())
    version_dir = ModelRepository(experiment / "saved_models").resolve("tiny_student").path
    assert str(version_dir) == report["exported"]
    metadata = read_metadata(version_dir)
    assert (
        metadata.tags == VOCABULARY and metadata.sample_rate == 22_050 and metadata.window_samples == 11_025
    )
    assert set(metadata.card.metrics) == {"valid", "test"}
    exported = report["models"][report["exported_student"]]
    assert metadata.card.metrics["test"]["song"]["pr_auc"] == exported["test_song_pr_auc"]
    assert set(metadata.card.metrics["test"]["window"]["per_tag"]) <= set(VOCABULARY)

    loaded = tf.saved_model.load(str(version_dir))
    student = keras.models.load_model(
        experiment / "experiment" / "runs" / report["exported_student"] / "model.keras"
    )
    waveform = (
        np.random.default_rng(0).normal(scale=0.1, size=(3, metadata.window_samples)).astype(np.float32)
    )
    np.testing.assert_allclose(
        loaded.serving_default(waveform)["scores"].numpy(), student(waveform)["scores"].numpy(), atol=1e-5
    )


def test_evaluate_command_scores_the_exported_model_and_updates_its_card(experiment: Path) -> None:
    version_dir = ModelRepository(experiment / "saved_models").resolve("tiny_student").path
    test_split = experiment / "experiment" / "data" / "splits" / "test.csv"
    output = experiment / "evaluation.json"
    before = read_metadata(version_dir).card.metrics["test"]
    main(
        [
            "evaluate",
            "--model",
            str(version_dir),
            "--manifest",
            str(test_split),
            "--hop",
            "0.5",
            "--output",
            str(output),
            "--update-card",
        ]
    )
    evaluation = json.loads(output.read_text())
    card = read_metadata(version_dir).card
    assert card.metrics["test"] == evaluation
    # The SavedModel on the same windows of the same data scores as the Keras model did in the experiment.
    assert evaluation["song"]["pr_auc"] == pytest.approx(before["song"]["pr_auc"], abs=1e-4)
    assert evaluation["song"]["excluded_tags"] == before["song"]["excluded_tags"]


def write_run_config(
    path: Path, experiment: Path, run_dir: Path, extra: str = "", fit: str = TINY_FIT
) -> Path:
    splits = experiment / "experiment" / "data" / "splits"
    path.write_text(
        f'run_dir = "{run_dir}"\n{extra}[model]\n{TINY_MODEL}'
        f'[data]\ntrain = "{splits / "train.csv"}"\nvalid = "{splits / "valid.csv"}"\n'
        f'vocabulary = "{experiment / "experiment" / "data" / "labelled" / "vocabulary.txt"}"\n'
        f'unlabelled = "{experiment / "experiment" / "data" / "unlabelled0" / "manifest.csv"}"\n'
        f'cache_dir = "{experiment / "cache"}"\n[fit]\n{fit}'
    )
    return path


def test_noisy_student_command_runs_rounds_with_each_student_teaching_the_next(experiment: Path) -> None:
    config = write_run_config(
        experiment / "student.toml",
        experiment,
        experiment / "students",
        extra=f'teacher = "{experiment / "experiment" / "runs" / "teacher"}"\n',
        fit=TINY_FIT.replace("epochs = 2", "epochs = 1"),
    )
    assert load_config(config, NoisyStudentConfig).rounds == 1
    main(["noisy-student", "--config", str(config), "--rounds", "2"])
    for round_dir in ("round1", "round2"):
        summary = json.loads((experiment / "students" / round_dir / "run.json").read_text())
        assert summary["frontend"]["window_samples"] == 11_025
    assert list((experiment / "cache").iterdir()), "cache_dir was not used"


def epochs_logged(history: Path) -> list[int]:
    return [int(row["epoch"]) for row in csv.DictReader(history.open())] if history.exists() else []


def test_a_killed_training_run_resumes_even_from_a_half_written_backup(experiment: Path) -> None:
    run_dir = experiment / "resumed"
    fit = TINY_FIT.replace("epochs = 2", "epochs = 4")
    config = write_run_config(experiment / "teacher.toml", experiment, run_dir, fit=fit)
    assert load_config(config, SupervisedConfig).fit.epochs == 4
    command = [sys.executable, "-m", "training", "train", "--config", str(config)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    while (
        len(epochs_logged(run_dir / "history.csv")) < 2
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = epochs_logged(run_dir / "history.csv")
    assert 2 <= len(done) < 4, f"the run was not interrupted mid-way: {done}"
    assert not (run_dir / "model.keras").exists()
    # What a kill in the middle of writing the newest backup leaves behind.
    latest = run_dir / "backup" / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])

    finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    resumed = epochs_logged(run_dir / "history.csv")[len(done) :]
    # It continues from the older backup: one epoch again at most, never from the start.
    assert resumed == list(range(resumed[0], 4)) and resumed[0] in (done[-1], done[-1] + 1)
    assert (run_dir / "model.keras").exists() and not (run_dir / "backup").exists()
    assert not list(run_dir.glob(".partial*"))
    with pytest.raises(FileExistsError, match="has finished"):
        main(["train", "--config", str(config)])


def test_every_shipped_config_loads() -> None:
    configs = sorted((REPO / "training" / "configs").glob("*.toml"))
    assert configs
    kinds = {"experiment": ExperimentConfig, "teacher": SupervisedConfig, "student": NoisyStudentConfig}
    for path in configs:
        load_config(path, kinds[path.stem.split("_")[0]])
