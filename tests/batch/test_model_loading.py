"""The API, the batch CLI and Beam load a model through one function, with the same runtime settings.

`tagger.repository.load_model` picks the engine, applies the device, thread and precision settings
and logs what it applied; each path is run for real here with the same `TAGGER_*` runtime settings
and must log the same line. Beam workers get the launcher's settings, not their own environment's.
"""

from __future__ import annotations

import ast
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from batch import beam_pipeline
from support.batch_helpers import MIN_SECONDS, REPO, Catalogue, batch_command, batch_env
from support.server_process import ServerProcess
from support.service_helpers import DEFAULT_MODEL, MAX_DURATION_S, server_settings

RUNTIME = {"TAGGER_TF_INTRA_OP_THREADS": "1", "TAGGER_TF_INTER_OP_THREADS": "3"}
LOADED = (
    f"loaded {DEFAULT_MODEL} v1 with openvino on /CPU:0 "
    "(1 intra-op / 3 inter-op threads, GPU mixed precision off)"
)


def functions_called(path: Path) -> set[str]:
    """Names of everything `path` calls: `f(...)` and `module.f(...)` alike."""
    calls = [node.func for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
    return {func.id for func in calls if isinstance(func, ast.Name)} | {
        func.attr for func in calls if isinstance(func, ast.Attribute)
    }


def test_only_the_repository_builds_and_configures_models() -> None:
    modules = [path for package in ("tagger", "service", "batch") for path in (REPO / package).rglob("*.py")]
    builders = {
        str(path.relative_to(REPO))
        for path in modules
        if {"TensorFlowModel", "OpenVINOModel", "configure_tensorflow"} & functions_called(path)
    }
    assert builders == {"tagger/repository.py"}
    loaders = {str(path.relative_to(REPO)) for path in modules if "load_model" in functions_called(path)}
    assert {"tagger/tagging.py", "batch/__main__.py", "batch/beam_model.py"} <= loaders


def test_the_api_logs_the_runtime_it_loaded_with(models_dir: Path, tmp_path: Path) -> None:
    settings = server_settings(models_dir, tmp_path / "tagger.db", TAGGER_LOG_LEVEL="info", **RUNTIME)
    server = ServerProcess(settings, tmp_path / "server.log").start()
    server.stop()
    assert LOADED in (tmp_path / "server.log").read_text()


def test_the_batch_cli_logs_the_same_runtime(catalogue: Catalogue, models_dir: Path, tmp_path: Path) -> None:
    env = batch_env({"TAGGER_MODELS_DIR": str(models_dir), "TAGGER_DB": str(tmp_path / "b.db"), **RUNTIME})
    command = batch_command("tag", catalogue.good[0], "--model", DEFAULT_MODEL)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert LOADED in done.stderr


# `python -m batch tag …` in a fresh interpreter, reporting afterwards whether TensorFlow was imported.
CLI_THEN_MODULES = """
import runpy, sys
sys.argv = ["batch", *sys.argv[1:]]
try:
    runpy.run_module("batch", run_name="__main__")
except SystemExit as done:
    assert not done.code, done.code
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_the_batch_cli_on_openvino_never_imports_tensorflow(
    catalogue: Catalogue, models_dir: Path, tmp_path: Path
) -> None:
    env = batch_env({"TAGGER_MODELS_DIR": str(models_dir), "TAGGER_DB": str(tmp_path / "b.db")})
    command = [
        sys.executable,
        "-c",
        CLI_THEN_MODULES,
        "tag",
        str(catalogue.good[0]),
        "--model",
        DEFAULT_MODEL,
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "with openvino on /CPU:0" in done.stderr
    assert done.stdout.splitlines()[-1] == "tensorflow imported: False"


def test_beam_workers_use_the_launchers_runtime(
    catalogue: Catalogue,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in RUNTIME.items():
        monkeypatch.setenv(name, value)
    args, options = beam_pipeline.parse_args(
        [
            *("--input", str(catalogue.good[0]), "--output", str(tmp_path / "tags")),
            *("--models-dir", str(models_dir), "--model", DEFAULT_MODEL),
            *("--min-duration", str(MIN_SECONDS), "--max-duration", str(MAX_DURATION_S)),
            *("--runner", "FnApiRunner"),
        ]
    )
    # A worker's own environment says otherwise; the launcher's settings travel with the pipeline.
    monkeypatch.setenv("TAGGER_TF_INTER_OP_THREADS", "7")
    assert os.environ["TAGGER_TF_INTER_OP_THREADS"] == "7"
    with caplog.at_level(logging.INFO, logger="tagger.repository"):
        with beam_pipeline.beam.Pipeline(options=options) as pipeline:
            beam_pipeline.build_pipeline(pipeline, args)
    assert LOADED in caplog.text
