"""What serving imports: never Kapre, librosa, Beam or the training code; on OpenVINO, not even TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.server_process import REPO
from support.service_helpers import DEFAULT_MODEL

# Runs in a fresh interpreter: this test process has already imported Keras and Kapre to build the models.
SERVE_ONE_BATCH = """
import sys
import numpy as np
from pathlib import Path
from service.main import create_app
from tagger.repository import load_model
from tagger.settings import Settings

settings = Settings()
create_app(settings)
model = load_model(Path(sys.argv[1]), settings.runtime)
model.predict([np.zeros(model.metadata.window_samples, np.float32)] * 2)
print(model.engine)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def served_with(engine: str, version_dir: Path) -> tuple[str, set[str]]:
    """The engine that served one batch in a fresh process with `TAGGER_ENGINE=engine`, and its imports."""
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_BATCH, str(version_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin", "TAGGER_ENGINE": engine},
    )
    served, imported = result.stdout.splitlines()[-2:]
    return served, set(imported.split())


def test_the_cpu_path_serves_with_openvino_and_never_imports_tensorflow(models_dir: Path) -> None:
    served, imported = served_with("auto", models_dir / DEFAULT_MODEL / "1")
    assert served == "openvino" and {"openvino", "service"} <= imported
    assert not imported & {"tensorflow", "keras", "kapre", "librosa", "training", "apache_beam"}


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_no_engine_imports_kapre_librosa_beam_or_training_code(models_dir: Path, engine: str) -> None:
    served, imported = served_with(engine, models_dir / DEFAULT_MODEL / "1")
    assert served == engine and engine in imported
    assert not imported & {"kapre", "librosa", "training", "apache_beam"}
