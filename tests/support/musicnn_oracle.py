"""musicnn's own tagger as the parity oracle for our port, always in a separate process.

Importing `musicnn.extractor` switches TensorFlow to graph mode for the whole process and needs
tf-keras (`TF_USE_LEGACY_KERAS=1`), so it must never share a process with Keras 3: tests call
`run_oracle`, which starts this file as a script. The script runs `musicnn.extractor.extractor`
(3 s non-overlapping patches, its defaults) for every model and file and saves, per pair,
the taggram (patches, 50) and the embedding of the first patch.

Only the first patch's embedding is trustworthy: musicnn 0.1.0's extractor appends the first
batch's 'penultimate' features again for every later batch (a stale variable in its loop).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# The feature musicnn returns that our export calls `embedding`, per architecture.
EMBEDDING_FEATURE = {"musicnn": "penultimate", "vgg": "pool5"}


def oracle_key(model: str, file_index: int, output: str) -> str:
    return f"{model}/{file_index}/{output}"


def run_oracle(files: list[Path], models: list[str], output: Path) -> dict[str, np.ndarray]:
    """Tag `files` with each of musicnn's `models` in a subprocess; arrays keyed by `oracle_key`."""
    environment = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, str(output), "--models", *models, "--files", *map(str, files)]
    subprocess.run(command, check=True, env=environment, capture_output=True)
    with np.load(output) as arrays:
        return dict(arrays)


def _first_patch_embedding(features: dict[str, np.ndarray], model: str, num_patches: int) -> np.ndarray:
    # The extractor squeezes each patch's feature and stacks them on axis 0: 'penultimate' gives
    # one row per patch, 'pool5' (time 2, frequency 1, 128 filters) two.
    feature = features[EMBEDDING_FEATURE[model.split("_")[1]]]
    return feature[: feature.shape[0] // num_patches].reshape(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the .npz file to write")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--files", nargs="+", required=True, type=Path)
    args = parser.parse_args()

    from musicnn.extractor import extractor  # graph mode from here on: this process only

    arrays: dict[str, np.ndarray] = {}
    for model in args.models:
        for index, path in enumerate(args.files):
            taggram, _, features = extractor(str(path), model=model, input_length=3, extract_features=True)
            arrays[oracle_key(model, index, "taggram")] = np.asarray(taggram, np.float32)
            arrays[oracle_key(model, index, "embedding")] = _first_patch_embedding(
                features, model, len(taggram)
            )
    np.savez(args.output, **arrays)


if __name__ == "__main__":
    main()
