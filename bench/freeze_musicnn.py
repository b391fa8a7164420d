"""Freeze musicnn's MSD checkpoint into the TF1 graph Essentia's `TensorflowPredictMusiCNN` runs.

Run as a script, never imported: musicnn's model code needs tf-keras (`TF_USE_LEGACY_KERAS=1`) and
graph mode, which must not leak into a process that uses Keras 3. musicnn's own `models.py` builds
the network exactly as its extractor does (so the checkpoint's variable names match), under the
`model` name scope: input `model/Placeholder` [batch, 187, 96], output `model/Sigmoid` [batch, 50].
`is_training` is the constant False (inference batch norm, no dropout), so the frozen graph has a
single input, like Essentia's published graphs (`isTrainingName` left empty).

Usage: TF_USE_LEGACY_KERAS=1 python bench/freeze_musicnn.py MSD_musicnn OUT.pb
"""

from __future__ import annotations

import sys
from pathlib import Path

PATCH_FRAMES = 187
MEL_BANDS = 96
OUTPUT = "model/Sigmoid"
NEWER_ATTRIBUTES = {"grad_a", "grad_b"}  # MatMul attributes added after TF 2.5


def freeze(model: str, target: Path) -> None:
    import musicnn
    import tensorflow as tf
    from musicnn import configuration, models

    tf.compat.v1.disable_eager_execution()
    labels = configuration.MSD_LABELS if model.startswith("MSD") else configuration.MTT_LABELS
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        with tf.name_scope("model"):
            patches = tf.compat.v1.placeholder(tf.float32, [None, PATCH_FRAMES, MEL_BANDS])
            logits = models.define_model(patches, False, model, len(labels))[0]
            tf.nn.sigmoid(logits)
        tf.compat.v1.train.Saver().restore(session, f"{Path(musicnn.__file__).parent / model}/")
        frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
            session, graph.as_graph_def(), [OUTPUT]
        )
    for node in frozen.node:  # attributes newer than Essentia's TensorFlow 2.5, which warns about them
        for attribute in NEWER_ATTRIBUTES & set(node.attr):
            del node.attr[attribute]
    target.write_bytes(frozen.SerializeToString())


if __name__ == "__main__":
    freeze(sys.argv[1], Path(sys.argv[2]))
