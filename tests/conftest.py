"""Test-wide set-up: keep TensorFlow quiet. Helpers live in `tests/support` (on pytest's `pythonpath`)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
