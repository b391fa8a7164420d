"""A student VGG trunk started from a narrower copy of a teacher VGG: each layer keeps its strongest channels.

Network slimming (Liu et al., ICCV 2017) ranks a conv layer's channels by the |scale| of the BatchNorm
that follows them; the next layer keeps only the input channels that survive. Starting the student
there, rather than from random weights, hands it the teacher's features at about a quarter of the
teacher's multiply-adds (half the channels in, half out; 0.35x its CPU time, measured in
docs/benchmarks.md); distillation then repairs what the cut lost. With CPU hours, not GPU weeks, of
training, this start gave the best agreement of the three candidates (docs/noisy-student.md, "Real music").
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from training.import_musicnn import musicnn_package_dir
from training.musicnn import VggConfig, build_vgg
from training.musicnn_checkpoint import SCOPES, checkpoint_weights, load_musicnn_weights, read_checkpoint


def start_from_teacher(student: keras.Model, teacher_name: str, config: VggConfig, head: str) -> None:
    """Start a `build_student` VGG student from the released `teacher_name` (e.g. `MSD_vgg`): its trunk's
    strongest channels, and its tag layer, restricted to the kept units, as the student's `head`."""
    teacher = musicnn_vgg_teacher(musicnn_package_dir() / teacher_name)
    units = slim_vgg_into(teacher, student, config)
    kernel, bias = teacher.get_layer("tags").get_weights()
    student.get_layer(head).set_weights([kernel[units], bias])


def musicnn_vgg_teacher(checkpoint_dir: Path) -> keras.Model:
    """The released musicnn VGG at `checkpoint_dir` (e.g. the wheel's `MSD_vgg`) as a Keras model."""
    teacher = build_vgg(name=checkpoint_dir.name)
    load_musicnn_weights(teacher, checkpoint_weights(read_checkpoint(checkpoint_dir)), SCOPES["vgg"])
    return teacher


def strongest_channels(batch_norm: keras.layers.BatchNormalization, keep: int) -> np.ndarray:
    """Indices (ascending) of the `keep` channels of largest BatchNorm scale |gamma| / sqrt(var + eps)."""
    gamma, _, _, variance = (np.asarray(w) for w in batch_norm.get_weights())
    strength = np.abs(gamma) / np.sqrt(variance + batch_norm.epsilon)
    return np.sort(np.argsort(-strength, kind="stable")[:keep])


def slim_vgg_into(teacher: keras.Model, student: keras.Model, config: VggConfig) -> np.ndarray:
    """Copy `teacher`'s strongest channels into `student` (built on a narrower `build_vgg` of `config`).

    Returns the embedding units kept, in the student's order, so a head can be started from the teacher's.
    """
    student.get_layer("input_bn").set_weights(teacher.get_layer("input_bn").get_weights())
    kept_inputs = np.arange(1)  # the spectrogram's single channel
    for block in range(1, len(config.pools) + 1):
        conv, batch_norm = f"vgg_{block}_conv", f"vgg_{block}_bn"
        kept = strongest_channels(teacher.get_layer(batch_norm), config.filters)
        kernel, bias = teacher.get_layer(conv).get_weights()
        student.get_layer(conv).set_weights([kernel[:, :, kept_inputs][..., kept], bias[kept]])
        student.get_layer(batch_norm).set_weights(
            [np.asarray(w)[kept] for w in teacher.get_layer(batch_norm).get_weights()]
        )
        kept_inputs = kept
    # The embedding flattens the last pool (time, frequency, channel) in C order.
    width = int(teacher.get_layer("vgg_1_conv").filters)
    positions = int(np.prod(teacher.get_layer("pool5").output.shape[1:])) // width
    return np.concatenate([position * width + kept_inputs for position in range(positions)])
