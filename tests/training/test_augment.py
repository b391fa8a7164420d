"""Each augmentation does what it must with the parameters it drew; the chain is seedable, runs in tf.data."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from training.augment import (
    AugmentationConfig,
    Augmenter,
    Delay,
    Gain,
    GaussianNoise,
    HighLowPass,
    PitchShift,
    PolarityInversion,
    Reverb,
)

SAMPLE_RATE = 16_000
SEEDS = [tf.constant([seed, 7]) for seed in range(5)]


def white_noise(seconds: float = 1.0, seed: int = 0) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).normal(size=int(seconds * SAMPLE_RATE)).astype(np.float32))


def sine(frequency: float, seconds: float = 2.0) -> np.ndarray:
    return np.sin(2 * np.pi * frequency * np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE).astype(
        np.float32
    )


def impulse(seconds: float, at: int = 0) -> tf.Tensor:
    waveform = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    waveform[at] = 1.0
    return tf.constant(waveform)


def rms_db(waveform: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(waveform))))


def peak_frequency(waveform: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(waveform.size)))
    return float(np.argmax(spectrum) * SAMPLE_RATE / waveform.size)


def test_polarity_inversion_flips_the_sign() -> None:
    x = white_noise()
    op = PolarityInversion()
    np.testing.assert_array_equal(op.apply(x, op.draw(SEEDS[0])).numpy(), -x.numpy())


@pytest.mark.parametrize("seed", SEEDS)
def test_gain_changes_rms_by_the_drawn_decibels(seed: tf.Tensor) -> None:
    x, op = white_noise(), Gain()
    parameters = op.draw(seed)
    gain_db = float(parameters["gain_db"])
    assert -20.0 <= gain_db <= -1.0
    change = rms_db(op.apply(x, parameters).numpy()) - rms_db(x.numpy())
    assert change == pytest.approx(gain_db, abs=1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_is_the_drawn_fraction_of_the_signal_std(seed: tf.Tensor) -> None:
    x, op = tf.constant(0.3 * sine(440.0)), GaussianNoise()
    parameters = op.draw(seed)
    ratio = float(parameters["ratio"])
    assert 0.3 <= ratio <= 0.5
    added = op.apply(x, parameters).numpy() - x.numpy()
    assert np.std(added) / np.std(x.numpy()) == pytest.approx(ratio, rel=0.03)


def band_energy_change_db(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    frequencies = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    band = (frequencies >= low) & (frequencies < high)
    return 10 * np.log10(
        np.sum(np.abs(np.fft.rfft(y))[band] ** 2) / np.sum(np.abs(np.fft.rfft(x))[band] ** 2)
    )


def test_high_low_pass_removes_energy_beyond_the_drawn_cutoff() -> None:
    x, op = white_noise(2.0), HighLowPass(SAMPLE_RATE)
    kinds = set()
    for seed in range(12):
        parameters = op.draw(tf.constant([seed, 0]))
        low_pass, cutoff = bool(parameters["low_pass"]), float(parameters["cutoff_hz"])
        y = op.apply(x, parameters).numpy()
        if low_pass:
            assert 2200 <= cutoff <= 4000
            assert band_energy_change_db(x.numpy(), y, 1.5 * cutoff, SAMPLE_RATE / 2) < -25
            assert band_energy_change_db(x.numpy(), y, 0, cutoff / 1.5) > -0.5
        else:
            assert 200 <= cutoff <= 1200
            assert band_energy_change_db(x.numpy(), y, 0, cutoff / 1.5) < -25
            assert band_energy_change_db(x.numpy(), y, 1.5 * cutoff, SAMPLE_RATE / 2) > -0.5
        kinds.add(low_pass)
    assert kinds == {True, False}


@pytest.mark.parametrize("seed", SEEDS)
def test_delay_adds_a_half_volume_echo_at_the_drawn_lag(seed: tf.Tensor) -> None:
    op = Delay(SAMPLE_RATE)
    parameters = op.draw(seed)
    delay_ms = float(parameters["delay_ms"])
    assert delay_ms in (200, 250, 300, 350, 400, 450)
    y = op.apply(impulse(1.0, at=100), parameters).numpy()
    echo = 100 + round(delay_ms * SAMPLE_RATE / 1000)
    assert y[100] == 1.0 and y[echo] == 0.5
    assert np.count_nonzero(y) == 2


@pytest.mark.parametrize("seed", SEEDS)
def test_pitch_shift_moves_a_sine_by_the_drawn_semitones(seed: tf.Tensor) -> None:
    op = PitchShift(SAMPLE_RATE)
    parameters = op.draw(seed)
    semitones = float(parameters["semitones"])
    assert -7 <= semitones <= 7
    y = op.apply(tf.constant(sine(440.0)), parameters).numpy()
    assert y.shape == (2 * SAMPLE_RATE,)
    middle = y[SAMPLE_RATE // 2 : 3 * SAMPLE_RATE // 2]
    assert peak_frequency(middle) == pytest.approx(440.0 * 2 ** (semitones / 12), rel=0.01)


def test_pitch_shift_keeps_the_tempo() -> None:
    """Bursts every 0.5 s stay 0.5 s apart after a 7-semitone shift (a resampler would make them 0.33 s)."""
    seconds = 4.0
    gate = (np.arange(int(seconds * SAMPLE_RATE)) % (SAMPLE_RATE // 2)) < SAMPLE_RATE // 10
    x = sine(440.0, seconds) * gate
    op = PitchShift(SAMPLE_RATE)
    y = op.apply(tf.constant(x), {"semitones": tf.constant(7.0)}).numpy()
    # Bursts at k/2 s last 0.1 s; the phase vocoder smears them by about a frame (32 ms) either side.
    # A speed change would put bursts (every 1/3 s) into the gaps between them.
    for start in np.arange(0.0, seconds, 0.5):
        burst = y[int((start + 0.0) * SAMPLE_RATE) : int((start + 0.1) * SAMPLE_RATE)]
        gap = y[int((start + 0.18) * SAMPLE_RATE) : int((start + 0.4) * SAMPLE_RATE)]
        assert np.sum(gap**2) < 0.01 * np.sum(burst**2)


@pytest.mark.parametrize("seed", SEEDS)
def test_reverb_decays_over_the_drawn_time(seed: tf.Tensor) -> None:
    op = Reverb(SAMPLE_RATE)
    parameters = op.draw(seed)
    decay = float(parameters["decay_seconds"])
    assert 0.2 <= decay <= 1.5
    y = op.apply(impulse(2.0), parameters).numpy()
    # Schroeder's backward integration; the slope from -5 to -35 dB extrapolated to 60 dB is the RT60.
    energy_db = 10 * np.log10(np.cumsum(y[::-1] ** 2)[::-1] / np.sum(y**2) + 1e-30)
    measured = 2 * (np.argmax(energy_db < -35) - np.argmax(energy_db < -5)) / SAMPLE_RATE
    assert measured == pytest.approx(decay, rel=0.1)


def test_reverb_fills_the_silence_after_a_sound() -> None:
    burst = np.concatenate([sine(440.0, 0.2), np.zeros(SAMPLE_RATE, np.float32)])
    op = Reverb(SAMPLE_RATE)
    y = op.apply(
        tf.constant(burst), {"decay_seconds": tf.constant(1.0), "tail_seed": tf.constant([1, 2])}
    ).numpy()
    after = slice(int(0.3 * SAMPLE_RATE), int(0.5 * SAMPLE_RATE))
    assert np.abs(burst[after]).max() == 0.0
    assert rms_db(y[after]) > rms_db(burst[: int(0.2 * SAMPLE_RATE)]) - 30


def only(name: str, probability: float) -> AugmentationConfig:
    """A config with every op off except `name`."""
    off = dict.fromkeys(vars(AugmentationConfig()), 0.0)
    return AugmentationConfig(**{**off, name: probability})


def run_in_tf_data(augmenter: Augmenter, waveform: tf.Tensor, count: int, seed: int) -> np.ndarray:
    seeds = tf.data.Dataset.random(seed=seed).take(count)
    augmented = seeds.map(lambda value: augmenter(waveform, tf.stack([value, tf.constant(0, tf.int64)])))
    return np.stack(list(augmented.as_numpy_iterator()))


def test_each_op_fires_independently_with_its_probability() -> None:
    x = white_noise(0.05)
    config = AugmentationConfig(**{**vars(only("polarity_inversion", 0.8)), "gain": 0.2})
    outputs = run_in_tf_data(Augmenter(config, SAMPLE_RATE), x, count=1000, seed=3)
    scale = outputs[:, 0] / x.numpy()[0]
    flipped, quieter = scale < 0, np.abs(scale) < 0.95
    assert flipped.mean() == pytest.approx(0.8, abs=0.04)
    assert quieter.mean() == pytest.approx(0.2, abs=0.04)
    assert (flipped & quieter).mean() == pytest.approx(0.16, abs=0.04)


def test_disabled_ops_never_fire_and_the_full_chain_keeps_shape_in_a_graph() -> None:
    x = white_noise(1.0)
    untouched = run_in_tf_data(Augmenter(only("delay", 0.0), SAMPLE_RATE), x, count=3, seed=0)
    np.testing.assert_array_equal(untouched, np.stack([x.numpy()] * 3))
    augmented = run_in_tf_data(Augmenter(AugmentationConfig(), SAMPLE_RATE), x, count=8, seed=0)
    assert augmented.shape == (8, SAMPLE_RATE) and np.isfinite(augmented).all()
    assert len({row.tobytes() for row in augmented}) == 8


def test_the_chain_is_reproducible_by_seed() -> None:
    augmenter, x = Augmenter(AugmentationConfig(), SAMPLE_RATE), white_noise(0.5)
    first, again = (run_in_tf_data(augmenter, x, count=6, seed=11) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, run_in_tf_data(augmenter, x, count=6, seed=12))


def test_probabilities_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match="`reverb` is a probability"):
        AugmentationConfig(reverb=1.5)
