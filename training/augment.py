"""Waveform augmentation as TensorFlow ops: the noisy student's "noise" and the teacher's data augmentation.

The chain, ranges and probabilities are those of the reference code (Won et al. 2021, which used the
torchaudio-augmentations library): polarity inversion (p 0.8), Gaussian noise at 0.3-0.5x the signal's
std (p 0.3), gain -20..-1 dB (p 0.2), a high-pass at 200-1200 Hz or a low-pass at 2.2-4 kHz (p 0.8),
an echo at 200-450 ms and half volume (p 0.5), pitch shift of up to 7 semitones (p 0.4), reverb (p 0.3).

Each augmentation `draw`s its parameters from a stateless seed and then `apply`s them, so the chain runs
inside `tf.data` graphs, a seed reproduces it exactly, and a test can check an op against what it drew.
All ops take and return one mono float32 waveform of shape (samples,) and keep its length. They are
training-only and never part of an exported model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import tensorflow as tf

Parameters = dict[str, tf.Tensor]


@dataclass(frozen=True)
class AugmentationConfig:
    """Probability that each op is applied to an example, independently of the others (0 disables it)."""

    polarity_inversion: float = 0.8
    noise: float = 0.3
    gain: float = 0.2
    high_low_pass: float = 0.8
    delay: float = 0.5
    pitch_shift: float = 0.4
    reverb: float = 0.3

    def __post_init__(self) -> None:
        for name, probability in vars(self).items():
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"`{name}` is a probability and must be in [0, 1]. Received: {probability}.")


class Augmentation(Protocol):
    def draw(self, seed: tf.Tensor) -> Parameters: ...

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor: ...


@dataclass(frozen=True)
class PolarityInversion:
    """x -> -x: inaudible, but the network sees a different waveform."""

    def draw(self, seed: tf.Tensor) -> Parameters:
        return {}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        return -waveform


@dataclass(frozen=True)
class GaussianNoise:
    """White noise whose std is `ratio` times the signal's std (0.3-0.5: roughly 6-10 dB SNR)."""

    min_ratio: float = 0.3
    max_ratio: float = 0.5

    def draw(self, seed: tf.Tensor) -> Parameters:
        ratio_seed, noise_seed = _split(seed, 2)
        return {"ratio": _uniform(ratio_seed, self.min_ratio, self.max_ratio), "noise_seed": noise_seed}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        noise = tf.random.stateless_normal(tf.shape(waveform), parameters["noise_seed"])
        return waveform + parameters["ratio"] * tf.math.reduce_std(waveform) * noise


@dataclass(frozen=True)
class Gain:
    """Scales the waveform by a gain in dB."""

    min_db: float = -20.0
    max_db: float = -1.0

    def draw(self, seed: tf.Tensor) -> Parameters:
        return {"gain_db": _uniform(seed, self.min_db, self.max_db)}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        return waveform * tf.pow(10.0, parameters["gain_db"] / 20.0)


@dataclass(frozen=True)
class HighLowPass:
    """Half the time a high-pass (cutoff 200-1200 Hz), otherwise a low-pass (2.2-4 kHz).

    A zero-phase filter with the magnitude response of an order-`order` Butterworth, applied in the
    frequency domain: exact cutoff, no phase smearing, any cutoff at no extra cost.
    """

    sample_rate: int
    high_pass_hz: tuple[float, float] = (200.0, 1200.0)
    low_pass_hz: tuple[float, float] = (2200.0, 4000.0)
    order: int = 8

    def draw(self, seed: tf.Tensor) -> Parameters:
        choice_seed, cutoff_seed = _split(seed, 2)
        low_pass = tf.random.stateless_uniform([], choice_seed) < 0.5
        high = _uniform(cutoff_seed, *self.high_pass_hz)
        low = _uniform(cutoff_seed, *self.low_pass_hz)
        return {"low_pass": low_pass, "cutoff_hz": tf.where(low_pass, low, high)}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        num_samples = tf.shape(waveform)[0]
        frequencies = tf.linspace(0.0, self.sample_rate / 2, num_samples // 2 + 1)
        ratio = frequencies / parameters["cutoff_hz"]
        ratio = tf.where(parameters["low_pass"], ratio, 1.0 / tf.maximum(ratio, 1e-6))
        magnitude = tf.math.rsqrt(1.0 + tf.pow(ratio, 2.0 * self.order))
        return _filter(waveform, magnitude)


@dataclass(frozen=True)
class Delay:
    """Adds an echo: the waveform delayed by 200, 250, ... 450 ms, at `volume`."""

    sample_rate: int
    delays_ms: tuple[int, ...] = (200, 250, 300, 350, 400, 450)
    volume: float = 0.5

    def draw(self, seed: tf.Tensor) -> Parameters:
        index = tf.random.stateless_uniform([], seed, maxval=len(self.delays_ms), dtype=tf.int32)
        return {"delay_ms": tf.gather(tf.constant(self.delays_ms, tf.float32), index)}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        num_samples = tf.shape(waveform)[0]
        lag = tf.minimum(
            tf.cast(tf.round(parameters["delay_ms"] * self.sample_rate / 1000), tf.int32), num_samples
        )
        echo = tf.concat([tf.zeros([lag]), waveform[: num_samples - lag]], axis=0)
        return waveform + self.volume * echo


@dataclass(frozen=True)
class PitchShift:
    """Shifts pitch by up to `max_semitones` and keeps duration and tempo (tempo is a tag too).

    A phase vocoder stretches time by the pitch factor, then band-limited (FFT) resampling brings the
    length back, which scales every frequency by that factor.
    """

    sample_rate: int
    max_semitones: float = 7.0
    n_fft: int = 2048
    hop_length: int = 512

    def draw(self, seed: tf.Tensor) -> Parameters:
        return {"semitones": _uniform(seed, -self.max_semitones, self.max_semitones)}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        factor = tf.pow(2.0, parameters["semitones"] / 12.0)
        num_samples = tf.shape(waveform)[0]
        stretched = self._time_stretch(waveform, rate=1.0 / factor)
        resampled_length = tf.cast(tf.round(tf.cast(tf.shape(stretched)[0], tf.float32) / factor), tf.int32)
        shifted = _resample(stretched, resampled_length)
        return _fit_length(shifted, num_samples)

    def _time_stretch(self, waveform: tf.Tensor, rate: tf.Tensor) -> tf.Tensor:
        """Phase vocoder (Flanagan & Golden; as librosa.phase_vocoder): `rate` < 1 makes it longer."""
        stft = tf.signal.stft(waveform, self.n_fft, self.hop_length, self.n_fft, pad_end=True)
        num_frames = tf.shape(stft)[0]
        steps = tf.range(0.0, tf.cast(num_frames, tf.float32), rate)
        stft = tf.concat([stft, tf.zeros_like(stft[:2])], axis=0)
        left = tf.cast(tf.floor(steps), tf.int32)
        before, after = tf.gather(stft, left), tf.gather(stft, left + 1)
        alpha = (steps - tf.floor(steps))[:, tf.newaxis]
        magnitude = (1.0 - alpha) * tf.abs(before) + alpha * tf.abs(after)
        # Each bin's expected phase advance per hop, plus the measured deviation wrapped to [-pi, pi].
        expected = (
            2.0 * math.pi * self.hop_length * tf.range(self.n_fft // 2 + 1, dtype=tf.float32) / self.n_fft
        )
        deviation = tf.math.angle(after) - tf.math.angle(before) - expected
        deviation -= 2.0 * math.pi * tf.round(deviation / (2.0 * math.pi))
        phase = tf.math.angle(stft[0]) + tf.cumsum(expected + deviation, axis=0, exclusive=True)
        stretched = tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))
        window = tf.signal.inverse_stft_window_fn(self.hop_length)
        return tf.signal.inverse_stft(stretched, self.n_fft, self.hop_length, self.n_fft, window_fn=window)


@dataclass(frozen=True)
class Reverb:
    """Convolution with a synthetic room: the direct sound plus an exponentially decaying noise tail.

    `decay_seconds` is the RT60 (time for the tail to fall 60 dB), standing in for sox's 0-100 room
    size; the tail carries as much energy as the direct sound (0 dB direct-to-reverberant ratio).
    """

    sample_rate: int
    min_decay_seconds: float = 0.2
    max_decay_seconds: float = 1.5

    def draw(self, seed: tf.Tensor) -> Parameters:
        decay_seed, tail_seed = _split(seed, 2)
        decay = _uniform(decay_seed, self.min_decay_seconds, self.max_decay_seconds)
        return {"decay_seconds": decay, "tail_seed": tail_seed}

    def apply(self, waveform: tf.Tensor, parameters: Parameters) -> tf.Tensor:
        length = tf.cast(parameters["decay_seconds"] * self.sample_rate, tf.int32)
        time = tf.range(1, length + 1, dtype=tf.float32) / self.sample_rate
        # exp(-6.91 t / RT60) is -60 dB at t = RT60.
        tail = tf.random.stateless_normal([length], parameters["tail_seed"])
        tail *= tf.exp(-math.log(1000.0) * time / parameters["decay_seconds"])
        tail /= tf.norm(tail)
        impulse_response = tf.concat([[1.0], tail], axis=0)
        return _convolve(waveform, impulse_response)


class Augmenter:
    """The reference chain in its fixed order, each op applied independently with its probability.

    `augmenter(waveform, seed)` is deterministic for a given `seed` (shape (2,) int); draw per-example
    seeds in `tf.data` with `tf.data.Dataset.random`.
    """

    def __init__(self, config: AugmentationConfig, sample_rate: int) -> None:
        self.steps: list[tuple[float, Augmentation]] = [
            (config.polarity_inversion, PolarityInversion()),
            (config.noise, GaussianNoise()),
            (config.gain, Gain()),
            (config.high_low_pass, HighLowPass(sample_rate)),
            (config.delay, Delay(sample_rate)),
            (config.pitch_shift, PitchShift(sample_rate)),
            (config.reverb, Reverb(sample_rate)),
        ]

    def __call__(self, waveform: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        static_shape = waveform.shape
        seeds = _split(seed, 2 * len(self.steps))
        for index, (probability, augmentation) in enumerate(self.steps):
            if probability == 0.0:
                continue
            coin_seed, op_seed = seeds[2 * index], seeds[2 * index + 1]
            waveform = tf.cond(
                tf.random.stateless_uniform([], coin_seed) < probability,
                lambda a=augmentation, s=op_seed, x=waveform: a.apply(x, a.draw(s)),
                lambda x=waveform: x,
            )
        return tf.ensure_shape(waveform, static_shape)


def _split(seed: tf.Tensor, num: int) -> list[tf.Tensor]:
    """`num` independent seeds derived from `seed`."""
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=num), num=num)


def _uniform(seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform([], seed, minval=low, maxval=high)


def _filter(waveform: tf.Tensor, magnitude: tf.Tensor) -> tf.Tensor:
    """Zero-phase filtering: multiply the spectrum by a real magnitude response."""
    num_samples = tf.shape(waveform)[0]
    spectrum = tf.signal.rfft(waveform) * tf.complex(magnitude, 0.0)
    return tf.signal.irfft(spectrum, fft_length=[num_samples])


def _resample(waveform: tf.Tensor, num_samples: tf.Tensor) -> tf.Tensor:
    """Band-limited resampling to `num_samples` by truncating or zero-padding the spectrum."""
    old_length = tf.shape(waveform)[0]
    spectrum = tf.signal.rfft(waveform)
    num_bins = num_samples // 2 + 1
    spectrum = tf.pad(spectrum[:num_bins], [[0, tf.maximum(num_bins - tf.shape(spectrum)[0], 0)]])
    scale = tf.cast(num_samples, tf.float32) / tf.cast(old_length, tf.float32)
    return tf.signal.irfft(spectrum, fft_length=[num_samples]) * scale


def _convolve(waveform: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Linear (not circular) convolution through the FFT, cut to the input's length."""
    num_samples = tf.shape(waveform)[0]
    full_length = num_samples + tf.shape(kernel)[0] - 1
    fft_length = tf.cast(
        2 ** tf.math.ceil(tf.math.log(tf.cast(full_length, tf.float32)) / math.log(2.0)), tf.int32
    )
    spectrum = tf.signal.rfft(waveform, fft_length=[fft_length]) * tf.signal.rfft(
        kernel, fft_length=[fft_length]
    )
    return tf.signal.irfft(spectrum, fft_length=[fft_length])[:num_samples]


def _fit_length(waveform: tf.Tensor, num_samples: tf.Tensor) -> tf.Tensor:
    waveform = waveform[:num_samples]
    return tf.pad(waveform, [[0, num_samples - tf.shape(waveform)[0]]])
