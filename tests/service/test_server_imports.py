"""The server needs TensorFlow only: serving a model imports neither Kapre, librosa nor the training code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.server_process import REPO
from support.service_helpers import DEFAULT_MODEL

# Runs in a fresh interpreter: this test process has already imported Keras and Kapre to build the models.
SERVE_ONE_BATCH = """
import sys
import numpy as np
from pathlib import Path
from service.main import create_app
from tagger.settings import Settings
from tagger.inference import ServingModel

create_app(Settings())
model = ServingModel(Path(sys.argv[1]), device="/CPU:0")
model.predict([np.zeros(model.metadata.window_samples, np.float32)] * 2)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_serving_imports_no_kapre_librosa_beam_or_training_code(models_dir: Path) -> None:
    version_dir = models_dir / DEFAULT_MODEL / "1"
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_BATCH, str(version_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    imported = set(result.stdout.split())
    assert "tensorflow" in imported and "service" in imported
    assert not imported & {"kapre", "librosa", "training", "apache_beam"}
