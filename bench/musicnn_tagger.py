"""musicnn's own tagger as a benchmark peer, in its own process: paths in on stdin, timings out on stdout.

Importing `musicnn` switches TensorFlow to graph mode for the whole process and needs tf-keras
(`TF_USE_LEGACY_KERAS=1`), so this never shares a process with the service or Keras 3: `musicnn_tagger()`
starts this file as a script and keeps it running, so the peer's imports and librosa's one-off
numba compilation are paid once, as by a user tagging files in one Python session. Each request
calls `musicnn.extractor.extractor` (what `musicnn.tagger.top_tags` calls, with its defaults: 3 s
patches, no overlap) and answers the wall time and the taggram (`top_tags` ranks its mean).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.peer_worker import PeerWorker


def musicnn_tagger(model: str) -> PeerWorker:
    """This file as a warm worker process for `model` (graph mode and tf-keras stay in that process)."""
    # Imported here: run as a script (the worker side), this file cannot import `bench`.
    from bench.peer_worker import PeerWorker

    environment = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return PeerWorker([sys.executable, __file__, model], name="musicnn's tagger", env=environment)


def main() -> None:
    from musicnn.extractor import extractor  # graph mode from here on: this process only

    model = sys.argv[1]
    for line in sys.stdin:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints progress
            taggram, _ = extractor(line.strip(), model=model, extract_features=False)
        seconds = time.perf_counter() - started
        sys.stdout.write(json.dumps({"seconds": seconds, "taggram": np.asarray(taggram).tolist()}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
