"""What every inference engine offers the rest of the core: one exported model scoring lists of windows.

Engine-neutral on purpose: importing it loads no engine, so listing models, the HTTP app and the
batch CLI's start-up pay for TensorFlow or OpenVINO only when `tagger.repository.load_model`
picks one (`tagger/engine_choice.py` says which).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import numpy as np

from tagger.arrays import FloatArray
from tagger.model_format import ModelMetadata
from tagger.predictions import WindowPrediction

logger = logging.getLogger(__name__)


class ServingModel(ABC):
    """One exported model version on one engine and device.

    `predict` has the list-in/list-out batching contract: one `WindowPrediction` per input window,
    in order, whatever the batch size. Calls may come from any thread, one at a time.
    """

    engine: str
    device: str
    metadata: ModelMetadata

    @abstractmethod
    def predict(self, windows: list[FloatArray]) -> list[WindowPrediction]: ...

    def warm_up(self, batch_sizes: list[int]) -> None:
        """Run silence through the model once per batch size, so first requests are not slow."""
        silence = np.zeros(self.metadata.window_samples, dtype=np.float32)
        for size in batch_sizes:
            self.predict([silence] * size)
        logger.info(
            "model %s v%d warm on %s (%s)",
            self.metadata.name,
            self.metadata.version,
            self.device,
            self.engine,
        )


def window_predictions(scores: FloatArray, embeddings: FloatArray) -> list[WindowPrediction]:
    """Rows of an engine's two outputs, paired per window."""
    return [WindowPrediction(s, e) for s, e in zip(scores, embeddings, strict=True)]
