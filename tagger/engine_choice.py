"""Which inference engine runs the models: `TAGGER_ENGINE=auto|tensorflow|openvino`.

The rule for `auto`: TensorFlow when the machine has an NVIDIA GPU (a `/dev/nvidia<N>` device node,
which the NVIDIA driver creates and the NVIDIA container runtime passes into containers), OpenVINO
otherwise. Asking TensorFlow itself would import it (about 5 s and 1 GB) on exactly the CPU path
that exists to avoid it. A GPU TensorFlow cannot use (no CUDA libraries) still selects TensorFlow;
it then logs that it runs on the CPU, and `TAGGER_ENGINE=openvino` is the faster choice there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tagger.settings import EngineSetting

Engine = Literal["tensorflow", "openvino"]


def nvidia_gpu_present(dev_dir: Path = Path("/dev")) -> bool:
    """Whether an NVIDIA GPU device node (`nvidia0`, `nvidia1`, …) exists under `dev_dir`."""
    return any(node.name.removeprefix("nvidia").isdigit() for node in dev_dir.glob("nvidia*"))


def choose_engine(setting: EngineSetting, dev_dir: Path = Path("/dev")) -> Engine:
    """The engine `setting` means on this machine."""
    if setting != "auto":
        return setting
    return "tensorflow" if nvidia_gpu_present(dev_dir) else "openvino"
