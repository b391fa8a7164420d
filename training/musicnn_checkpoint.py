"""Fill our Keras musicnn networks (training/musicnn.py) from musicnn's TensorFlow 1 checkpoints.

The checkpoints name variables after TF1's layer counters (`conv2d_5/kernel`,
`batch_normalization_9/gamma`, ...) in the order musicnn's `models.py` created the layers; the
tables below map each of our layers to its scope. Loading fails loudly unless every checkpoint
variable (optimizer slots aside) lands in exactly one of our weights and every weight is filled,
so a mis-mapped or missing layer cannot pass silently.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

MUSICNN_SCOPES: dict[str, str] = {
    "input_bn": "batch_normalization",
    "timbral_1_conv": "conv2d",
    "timbral_1_bn": "batch_normalization_1",
    "timbral_2_conv": "conv2d_1",
    "timbral_2_bn": "batch_normalization_2",
    "temporal_1_conv": "conv2d_2",
    "temporal_1_bn": "batch_normalization_3",
    "temporal_2_conv": "conv2d_3",
    "temporal_2_bn": "batch_normalization_4",
    "temporal_3_conv": "conv2d_4",
    "temporal_3_bn": "batch_normalization_5",
    "midend_1_conv": "conv2d_5",
    "midend_1_bn": "batch_normalization_6",
    "midend_2_conv": "conv2d_6",
    "midend_2_bn": "batch_normalization_7",
    "midend_3_conv": "conv2d_7",
    "midend_3_bn": "batch_normalization_8",
    "pooled_bn": "batch_normalization_9",
    "penultimate_dense": "dense",
    "penultimate": "batch_normalization_10",
    "tags": "dense_1",
}
VGG_SCOPES: dict[str, str] = {
    "input_bn": "batch_normalization",
    **{f"vgg_{block}_conv": f"{block}CNN" for block in range(1, 6)},
    **{f"vgg_{block}_bn": f"batch_normalization_{block}" for block in range(1, 6)},
    "tags": "dense",
}
SCOPES = {"musicnn": MUSICNN_SCOPES, "vgg": VGG_SCOPES}

# Adam's slots and step counters, saved alongside the weights; not part of the model.
OPTIMIZER_STATE = ("/Adam", "beta1_power", "beta2_power")


def read_checkpoint(directory: Path) -> tf.train.CheckpointReader:
    """Reader for a checkpoint saved as `<directory>/.index` + `<directory>/.data-*`.

    musicnn saved with an empty file name, so the checkpoint prefix is the directory itself, and its
    `checkpoint` file points at the author's machine. `tf.train.load_checkpoint` resolves any
    directory through that file and fails, so the prefix goes to the reader it wraps directly.
    """
    return tf.compat.v1.train.NewCheckpointReader(f"{directory}/")


def checkpoint_weights(reader: tf.train.CheckpointReader) -> dict[str, np.ndarray]:
    """Every model variable of the checkpoint by its TF1 name (`conv2d/kernel`)."""
    return {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if not any(marker in key for marker in OPTIMIZER_STATE)
    }


def load_musicnn_weights(model: keras.Model, weights: dict[str, np.ndarray], scopes: dict[str, str]) -> None:
    """Assign `weights` (from `checkpoint_weights`) to `model`'s layers as `scopes` maps them."""
    unmapped = [layer.name for layer in model.layers if layer.weights and layer.name not in scopes]
    if unmapped:
        raise ValueError(f"Layers with weights but no checkpoint scope: {unmapped}.")
    used: set[str] = set()
    for layer_name, scope in scopes.items():
        for variable in model.get_layer(layer_name).weights:
            key = f"{scope}/{variable.name}"
            if key not in weights:
                raise KeyError(f"The checkpoint has no {key!r} for {variable.path}.")
            variable.assign(_fit(weights[key], tuple(variable.shape), key))
            used.add(key)
    unused = sorted(set(weights) - used)
    if unused:
        raise ValueError(f"Checkpoint variables left unused: {unused}.")


def _fit(value: np.ndarray, shape: tuple[int, ...], key: str) -> np.ndarray:
    """`value` in `shape`, allowing only dropped unit axes.

    The mid-end's TF1 kernels are conv2d kernels (frames, features, 1, filters) over a
    (time, features, 1) map; as Conv1D kernels they are the same numbers without the unit axis.
    """
    if [d for d in value.shape if d != 1] != [d for d in shape if d != 1]:
        raise ValueError(f"Checkpoint {key!r} has shape {value.shape}; the layer expects {shape}.")
    return value.reshape(shape)
