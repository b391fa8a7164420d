"""Test-wide set-up: make `tests/audio_files.py` importable and keep TensorFlow quiet."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))
