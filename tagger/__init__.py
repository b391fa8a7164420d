"""The core library under every path: audio intake, windowing, the model format and repository,
inference, the results store, and the one error hierarchy.

The HTTP service (`service`), the batch tools (`batch`), training (`training`) and the benchmarks
(`bench`) build on it; it imports none of them, nor a web framework, Beam, Kapre or librosa.
"""
