"""`TAGGER_ENGINE`: auto is OpenVINO without an NVIDIA GPU, TensorFlow with one; a setting forces either."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from support.tiny_model import export_tiny_model
from tagger.engine_choice import choose_engine, nvidia_gpu_present
from tagger.repository import load_model
from tagger.settings import Settings


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("saved_models")
    return export_tiny_model(directory, name="tiny", sample_rate=16_000, window_samples=16_000, seed=3)


def test_auto_serves_with_openvino_on_this_gpu_less_machine(tiny_model: Path) -> None:
    assert not nvidia_gpu_present(), "this machine has an NVIDIA GPU: the test expects none"
    assert Settings().engine == "auto"
    model = load_model(tiny_model, Settings().runtime)
    assert (model.engine, model.device) == ("openvino", "/CPU:0")


@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_the_setting_forces_either_engine(
    tiny_model: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGGER_ENGINE", engine)
    model = load_model(tiny_model, Settings().runtime)
    assert model.engine == engine
    ramp = np.linspace(-0.5, 0.5, model.metadata.window_samples, dtype=np.float32)
    assert len(model.predict([ramp] * 3)) == 3


def test_an_nvidia_device_node_makes_auto_pick_tensorflow(tmp_path: Path) -> None:
    (tmp_path / "nvidiactl").touch()  # the driver's control node exists without a GPU too
    assert choose_engine("auto", tmp_path) == "openvino"
    (tmp_path / "nvidia0").touch()
    assert choose_engine("auto", tmp_path) == "tensorflow"
    assert choose_engine("openvino", tmp_path) == "openvino"


def test_an_unknown_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGGER_ENGINE", "onnxruntime")
    with pytest.raises(ValueError, match="auto"):
        Settings()
