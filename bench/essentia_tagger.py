"""Essentia tagging with a frozen musicnn graph, as its documentation shows; runs in Essentia's own venv.

Never imported by the project: `bench/essentia_peer.py` runs this file with the benchmark's
Essentia virtualenv. Per file: `MonoLoader(sampleRate=16000, resampleQuality=4)` (C++ decoding and
resampling, the quality of Essentia's examples) and `TensorflowPredictMusiCNN` with non-overlapping
187-frame patches (the model's own 3 s hop, which our side uses too), batch 64, last partial patch
discarded (its default). Both are built once per process, as a user's script does.

Two modes, both printing one JSON line per file: `folder GRAPH FILE...` tags the files and exits
(the catalogue case: the parent times the whole process); `serve GRAPH` reads paths on stdin and
answers each with its in-process seconds (the interactive case, warm).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from essentia.standard import MonoLoader, TensorflowPredictMusiCNN

SAMPLE_RATE = 16_000
PATCH_HOP_FRAMES = 187


def tagger(graph: str) -> TensorflowPredictMusiCNN:
    return TensorflowPredictMusiCNN(
        graphFilename=graph, output="model/Sigmoid", patchHopSize=PATCH_HOP_FRAMES, batchSize=64
    )


def tag(predict: TensorflowPredictMusiCNN, path: str) -> dict[str, object]:
    started = time.perf_counter()
    audio = MonoLoader(filename=path, sampleRate=SAMPLE_RATE, resampleQuality=4)()
    taggram = np.asarray(predict(audio))
    seconds = time.perf_counter() - started
    return {
        "path": path,
        "seconds": seconds,
        "duration": len(audio) / SAMPLE_RATE,
        "taggram": taggram.tolist(),
    }


def main() -> None:
    mode, graph, *paths = sys.argv[1:]
    predict = tagger(graph)
    for path in paths if mode == "folder" else (line.strip() for line in sys.stdin):
        sys.stdout.write(json.dumps(tag(predict, path)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
