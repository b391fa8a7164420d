"""Test-wide set-up: keep TensorFlow quiet. Helpers live in `tests/support` (on pytest's `pythonpath`)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402  (after the environment above, before anything imports TensorFlow)

from support.damaged_audio import DamagedFile, damaged_files  # noqa: E402
from support.debian_music import debian_music  # noqa: E402


@pytest.fixture(scope="session")
def damaged_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DamagedFile]:
    """The damaged-but-decodable corpus (tests/support/damaged_audio.py), made once per session."""
    return damaged_files(tmp_path_factory.mktemp("damaged"), debian_music()[0])
