"""The mel-spectrogram front end: one config object that builds the Kapre layer stack.

Every model starts with `build_frontend(config)`, and the exporter writes the same config into
the SavedModel, so the spectrogram a model was trained on is the one it serves with.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import keras
from kapre import ApplyFilterbank, Magnitude, MagnitudeToDecibel, STFT

from training.layers import CenterPad, LogCompression, Square

# `MagnitudeToDecibel` needs a finite dynamic range; this one never clips real audio,
# which matches librosa's `power_to_db(top_db=None)`.
NO_DB_FLOOR = 1e6


@dataclass(frozen=True)
class FrontendConfig:
    """How raw audio becomes a log-mel spectrogram, and how long one model input is.

    Defaults are the Music Tagging Transformer's (Won et al., ISMIR 2021): 22.05 kHz,
    1024-point FFT, hop 512, 128 HTK mels without filterbank normalisation, power 2, dB.
    """

    sample_rate: int = 22_050
    chunk_samples: int = 220_500
    n_fft: int = 1024
    hop_length: int = 512
    window: Literal["hann_window", "hamming_window"] = "hann_window"
    center: bool = True
    pad_mode: Literal["reflect", "constant"] = "reflect"
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: Literal["htk", "slaney"] = "htk"
    mel_norm: Literal["slaney"] | None = None
    power: Literal[1, 2] = 2
    log: Literal["db", "log10_1p"] = "db"
    db_amin: float = 1e-10
    log_multiplier: float = 10_000.0

    def __post_init__(self) -> None:
        if self.chunk_samples < self.n_fft and not self.center:
            raise ValueError(
                f"`chunk_samples` must be at least `n_fft` without centring. "
                f"Received: chunk_samples={self.chunk_samples}, n_fft={self.n_fft}."
            )
        if self.center and self.pad_mode == "reflect" and self.chunk_samples <= self.n_fft // 2:
            raise ValueError(
                f"Reflect padding needs `chunk_samples` > n_fft // 2. "
                f"Received: chunk_samples={self.chunk_samples}, n_fft={self.n_fft}."
            )
        if self.hop_length <= 0 or self.hop_length > self.n_fft:
            raise ValueError(f"`hop_length` must be in (0, n_fft]. Received: hop_length={self.hop_length}.")

    @property
    def chunk_seconds(self) -> float:
        return self.chunk_samples / self.sample_rate

    @property
    def num_frames(self) -> int:
        """Spectrogram frames per chunk."""
        padded = self.chunk_samples + (self.n_fft // 2) * 2 if self.center else self.chunk_samples
        return 1 + (padded - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FrontendConfig:
        return cls(**values)


def build_frontend(config: FrontendConfig, name: str = "frontend") -> keras.Sequential:
    """(batch, chunk_samples) waveform -> (batch, num_frames, n_mels, 1) log-mel spectrogram.

    Every layer computes in float32 even under a mixed-precision policy: an STFT and a dB scale in
    float16 lose the quiet bands the network needs.
    """
    exact = {"dtype": "float32"}
    stack: list[keras.layers.Layer] = [
        keras.Input(shape=(config.chunk_samples,), name="waveform"),
        keras.layers.Reshape((config.chunk_samples, 1), name="add_channel", **exact),
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
        stack.append(MagnitudeToDecibel(amin=config.db_amin, dynamic_range=NO_DB_FLOOR, name="decibel", **exact))
    else:
        stack.append(LogCompression(config.log_multiplier, name="log_compression", **exact))
    return keras.Sequential(stack, name=name)
