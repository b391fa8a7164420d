"""A peer tagger kept warm in a process of its own: one path per line in, one JSON answer per line out.

Peers (musicnn's tagger, Essentia) cannot share a process with the service or Keras 3, so each
runs as a worker script; this is the client side both use. Lines before the answer that are not
JSON (a peer's own notices on stdout) are skipped.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


class PeerWorker:
    """`tag(path)` returns (seconds the peer measured, taggram (windows, tags))."""

    def __init__(self, command: Sequence[str], *, name: str, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self._process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=None if env is None else dict(env),
        )

    def tag(self, path: Path) -> tuple[float, np.ndarray]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"{path}\n")
        self._process.stdin.flush()
        line = ""
        while not line.startswith("{"):
            line = self._process.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited with {self._process.wait()}")
        answer = json.loads(line)
        return answer["seconds"], np.asarray(answer["taggram"], np.float32)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)
