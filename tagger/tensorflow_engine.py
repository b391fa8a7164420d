"""The TensorFlow engine: a SavedModel loaded with `tf.saved_model.load`, placed on GPU or CPU.

The engine for GPUs (and on request for CPUs, `TAGGER_ENGINE=tensorflow`). Only TensorFlow is
needed: the Kapre front end is inside the graph, so neither Keras, Kapre nor librosa is imported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tensorflow as tf

from tagger.arrays import FloatArray
from tagger.inference import ServingModel, window_predictions
from tagger.model_format import EMBEDDING_OUTPUT, SCORES_OUTPUT, SIGNATURE, read_metadata
from tagger.predictions import WindowPrediction
from tagger.settings import Runtime

logger = logging.getLogger(__name__)


def configure_tensorflow(runtime: Runtime) -> str:
    """Set TF's thread pools, GPU memory growth and precision; returns the device models should run on.

    Must run before TensorFlow executes its first op (it refuses to change these afterwards),
    which is why it is a separate step the server calls first; inside a process that already ran
    TF (a test session) the existing configuration is kept.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if gpus and runtime.gpu_mixed_precision:
        # Grappler rewrites every graph it optimises: float16 matmuls and convolutions, float32 elsewhere.
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})
    try:
        tf.config.threading.set_intra_op_parallelism_threads(runtime.intra_op_threads)
        tf.config.threading.set_inter_op_parallelism_threads(runtime.inter_op_threads)
        for gpu in gpus:
            # Without growth TF reserves the whole GPU's memory for the first model it loads.
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as error:  # another component of this process ran TF first
        logger.warning("TensorFlow was already initialised; keeping its configuration (%s)", error)
    return "/GPU:0" if gpus else "/CPU:0"


class TensorFlowModel(ServingModel):
    """One exported model version, loaded on `device` (`/CPU:0`, `/GPU:0`)."""

    engine = "tensorflow"

    def __init__(self, version_dir: Path, *, device: str) -> None:
        self.metadata = read_metadata(version_dir)
        self.device = device
        with tf.device(device):
            self._saved_model = tf.saved_model.load(str(version_dir))
        # The exported `serving_default` function: waveform (batch, window_samples) -> scores, embedding.
        self.signature = self._saved_model.signatures[SIGNATURE]

    def predict(self, windows: list[FloatArray]) -> list[WindowPrediction]:
        with tf.device(self.device):
            outputs = self.signature(waveform=tf.constant(np.stack(windows), dtype=tf.float32))
        return window_predictions(outputs[SCORES_OUTPUT].numpy(), outputs[EMBEDDING_OUTPUT].numpy())
