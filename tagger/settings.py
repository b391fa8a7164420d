"""Configuration of the service and the batch tools, read from `TAGGER_*` environment variables (or `.env`).

Entry points build one `Settings()` and pass it down (`create_app(settings)`, the batch CLI, the Beam
launcher); nothing reads the environment at import time, so tests build settings directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tagger.audio import MIN_DECODED_SHARE


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's total)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


EngineSetting = Literal["auto", "tensorflow", "openvino"]


@dataclass(frozen=True)
class Runtime:
    """How a model runs in this process; the same for the API, the batch CLI and Beam workers."""

    intra_op_threads: int
    inter_op_threads: int
    gpu_mixed_precision: bool = False
    engine: EngineSetting = "auto"


class Settings(BaseSettings):
    """Every knob of the tagging service; the field name in upper case with `TAGGER_` is its variable."""

    model_config = SettingsConfigDict(env_prefix="TAGGER_", env_file=".env", extra="ignore")

    models_dir: Path = Path("saved_models")
    default_model: str = "MSD_musicnn"
    # Results store: a path is an SQLite file (one server); a `postgresql://` URL is shared by replicas.
    db: str | Path = "tagger.db"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65_535)
    api_key: SecretStr | None = None

    max_upload_mb: float = Field(100.0, gt=0)
    max_duration_s: float = Field(900.0, gt=0)
    min_duration_s: float = Field(0.5, ge=0)
    # A damaged file is refused when less than this share of it decodes (docs/reliability.md).
    min_decoded_share: float = Field(MIN_DECODED_SHARE, ge=0, le=1)
    upload_dir: Path | None = None

    # Windows per model call. On CPU a window costs about the same from a batch of 4 up (docs/benchmarks.md,
    # "Model throughput and FLOP/s"), so batching saves only per-call overhead and 16 is plenty. A GPU runs
    # many windows in about the time of one, so it gets larger batches (untested here: no GPU).
    max_batch_size: int = Field(16, ge=1, le=1024)
    gpu_max_batch_size: int = Field(64, ge=1, le=1024)
    # How long an idle model waits for other requests' windows before running a partial batch. While
    # it is busy, windows queue up anyway and the next batch is full, so any wait only delays a lone request.
    max_wait_ms: float = Field(0.0, ge=0)
    batching: bool = True
    max_queued_windows: int = Field(4096, ge=1)
    # Longest a request may wait for decoding and the model once uploaded; then it is answered 503 and its
    # queued windows are dropped. Upload time is not counted: it depends on the client's link, not on load.
    request_timeout_s: float = Field(120.0, gt=0)
    # On SIGTERM, requests in flight get this long to finish before the server stops regardless.
    shutdown_timeout_s: float = Field(25.0, ge=0)

    decode_workers: int = Field(default_factory=available_cpus, ge=1)
    tf_intra_op_threads: int = Field(default_factory=available_cpus, ge=1)
    tf_inter_op_threads: int = Field(2, ge=1)
    # float16 matmuls and convolutions on a GPU (TensorFlow's automatic mixed precision); ignored on CPU.
    # Off by default: reduced precision moves scores beyond the musicnn parity tolerance.
    gpu_mixed_precision: bool = False
    # auto: OpenVINO on CPU, TensorFlow when an NVIDIA GPU is present (tagger/engine_choice.py).
    # OpenVINO uses TAGGER_TF_INTRA_OP_THREADS threads in all.
    engine: EngineSetting = "auto"

    log_level: str = "info"

    @field_validator("max_batch_size", "gpu_max_batch_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of 2. Received: {value}")
        return value

    @property
    def runtime(self) -> Runtime:
        return Runtime(
            self.tf_intra_op_threads, self.tf_inter_op_threads, self.gpu_mixed_precision, self.engine
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def batch_size_for(self, device: str) -> int:
        """Windows per model call on `device` (`/CPU:0`, `/GPU:0`); 1 when batching is switched off."""
        if not self.batching:
            return 1
        return self.gpu_max_batch_size if "GPU" in device.upper() else self.max_batch_size
