"""How far song vectors move under a perturbation, absolutely and next to the gap between songs."""

from __future__ import annotations

import numpy as np
import pytest

from training.robustness import movement


def test_relative_movement_does_not_reward_a_model_that_never_varies() -> None:
    clean = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    perturbed = clean + np.array([0.1, -0.1])
    moved = movement(clean, perturbed)
    # Between two different songs the mean |Δ| per tag is (1 + 0.5 + 0.5) / 3.
    assert moved["mean_abs_diff"] == pytest.approx(0.1)
    assert moved["relative_to_between_songs"] == pytest.approx(0.1 / (2 / 3))

    flat = movement(0.1 * clean, 0.1 * perturbed)  # ten times less variation, ten times less movement
    assert flat["mean_abs_diff"] == pytest.approx(0.01)
    assert flat["relative_to_between_songs"] == pytest.approx(moved["relative_to_between_songs"])
    assert flat["cosine_distance"] == pytest.approx(moved["cosine_distance"])
