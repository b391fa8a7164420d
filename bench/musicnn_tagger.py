"""musicnn's own tagger as a benchmark peer, in its own process: paths in on stdin, timings out on stdout.

Importing `musicnn` switches TensorFlow to graph mode for the whole process and needs tf-keras
(`TF_USE_LEGACY_KERAS=1`), so this never shares a process with the service or Keras 3: `MusicnnTagger`
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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


class MusicnnTagger:
    """The worker process; `tag(path)` returns (seconds, taggram (patches, tags))."""

    def __init__(self, model: str) -> None:
        environment = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self._process = subprocess.Popen(
            [sys.executable, __file__, model],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=environment,
        )

    def tag(self, path: Path) -> tuple[float, np.ndarray]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{path}\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"musicnn's tagger exited with {self._process.wait()}")
        answer = json.loads(line)
        return answer["seconds"], np.asarray(answer["taggram"], np.float32)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)


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
