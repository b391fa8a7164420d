"""The mel-spectrogram front end: the Kapre layer stack a `FrontendSpec` describes.

Every model starts with `build_frontend(spec)`, and the exporter writes the same spec into the
SavedModel, so the spectrogram a model was trained on is the one it serves with. The spec itself
lives in the core (`tagger.model_format`), so reading it never imports Keras or Kapre.
"""

from __future__ import annotations

import keras
from kapre import STFT, ApplyFilterbank, Magnitude, MagnitudeToDecibel

from tagger.model_format import FrontendSpec
from training.layers import CenterPad, LogCompression, Square

# `MagnitudeToDecibel` needs a finite dynamic range; this one never clips real audio,
# which matches librosa's `power_to_db(top_db=None)`.
NO_DB_FLOOR = 1e6


def build_frontend(config: FrontendSpec, name: str = "frontend") -> keras.Sequential:
    """(batch, window_samples) waveform -> (batch, num_frames, n_mels, 1) log-mel spectrogram.

    Every layer computes in float32 even under a mixed-precision policy: an STFT and a dB scale in
    float16 lose the quiet bands the network needs.
    """
    exact = {"dtype": "float32"}
    stack: list[keras.layers.Layer] = [
        keras.Input(shape=(config.window_samples,), name="waveform"),
        keras.layers.Reshape((config.window_samples, 1), name="add_channel", **exact),
    ]
    if config.center:
        stack.append(CenterPad(config.n_fft // 2, mode=config.pad_mode, name="center_pad", **exact))
    stack += [
        STFT(
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            window_name=config.window,
            input_data_format="channels_last",
            output_data_format="channels_last",
            name="stft",
            **exact,
        ),
        Magnitude(name="magnitude", **exact),
    ]
    if config.power == 2:
        stack.append(Square(name="power", **exact))
    stack.append(
        ApplyFilterbank(
            type="mel",
            filterbank_kwargs={
                "sample_rate": config.sample_rate,
                "n_freq": config.n_fft // 2 + 1,
                "n_mels": config.n_mels,
                "f_min": config.f_min,
                "f_max": config.f_max,
                "htk": config.mel_scale == "htk",
                "norm": config.mel_norm,
            },
            data_format="channels_last",
            name="mel",
            **exact,
        )
    )
    if config.log == "db":
        stack.append(
            MagnitudeToDecibel(amin=config.db_amin, dynamic_range=NO_DB_FLOOR, name="decibel", **exact)
        )
    else:
        stack.append(LogCompression(config.log_multiplier, name="log_compression", **exact))
    return keras.Sequential(stack, name=name)
