"""Arithmetic counted from a model's graph, and the arithmetic the machine can do: a large dense matmul.

FLOPs come from TensorFlow's own profiler (`tf.compat.v1.profiler`, `float_operation`) run on the
serving function's graph with its variables frozen to constants and a fixed batch, so every shape
is known. The profiler has no rule for `Einsum` (Keras 3's attention and `EinsumDense` layers), so
those are added here: 2 × the product of every index's size. Ops it counts as zero (the FFT of the
spectrogram, gathers, casts) are cheap next to the convolutions and matmuls, so the total is a
slight undercount, never an overcount.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from bench.report import Timing, timed

MATMUL_SIZE = 2048  # 17 GFLOP per product: long enough to time, short enough to repeat often


def flops_per_window(
    serve: Callable[..., dict[str, tf.Tensor]], window_samples: int, *, batch: int = 2
) -> float:
    """FLOPs of one window through `serve(waveform=...)` (a loaded `serving_default` signature)."""
    function = tf.function(lambda waveform: serve(waveform=waveform))
    concrete = function.get_concrete_function(tf.TensorSpec([batch, window_samples], tf.float32))
    graph = convert_variables_to_constants_v2(concrete).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    counted = tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops
    return (counted + _einsum_flops(graph)) / batch


def _einsum_flops(graph: tf.Graph) -> int:
    total = 0
    for op in graph.get_operations():
        if op.type != "Einsum":
            continue
        inputs, _ = op.get_attr("equation").decode().replace(" ", "").split("->")
        sizes: dict[str, int] = {}
        for labels, tensor in zip(inputs.split(","), op.inputs, strict=True):
            sizes.update(zip(labels, tensor.shape.as_list(), strict=True))
        total += 2 * math.prod(sizes.values())
    return total


class Matmul:
    """A `MATMUL_SIZE` square float32 product on `device`: the FLOP/s ceiling for dense arithmetic."""

    def __init__(self, device: str, size: int = MATMUL_SIZE) -> None:
        self.flops = 2 * size**3
        rng = np.random.default_rng(0)
        with tf.device(device):
            a, b = (tf.constant(rng.standard_normal((size, size), np.float32)) for _ in range(2))
        self._product = tf.function(lambda: tf.reduce_sum(tf.linalg.matmul(a, b)))  # a scalar comes back
        self._product()

    def measure(self) -> Timing:
        """One timed product."""
        return timed(lambda: self._product().numpy())
