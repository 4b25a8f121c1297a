"""STFT / inverse STFT and the article's normalisation."""
import numpy as np
import pytest

from unetvocalsep import constants
from unetvocalsep.spectrogram import istft, magphase, n_frames, normalise, spectrogram, stft


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("n", [16000, 16000 * 3 + 123, 1, 511, 512, 513, 1600])
def test_round_trip_on_noise_preserves_length(n):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.3
    out = istft(stft(y), n)
    assert out.shape == (n,)
    assert rms(out - y) < 1e-6


def test_round_trip_on_a_tone():
    t = np.arange(48000) / 16000
    y = (0.8 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert rms(istft(stft(y), len(y)) - y) < 1e-6


def test_round_trip_multichannel_other_rate():
    y = np.random.default_rng(1).standard_normal((2, 44100 + 7)).astype(np.float32)
    n_fft, hop = 2822, 1411
    out = istft(stft(y, n_fft, hop), y.shape[-1], hop)
    assert out.shape == y.shape
    assert rms(out - y) < 1e-6


def test_matches_librosa_frames():
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(2).standard_normal(16000).astype(np.float32)
    ours = stft(y)
    ref = librosa.stft(y, n_fft=1024, hop_length=512, win_length=1024, window="hann",
                       center=True, pad_mode="constant")
    assert ours.shape[0] == 513 and ours.shape[1] == n_frames(16000) >= ref.shape[1]
    np.testing.assert_allclose(ours[:, :ref.shape[1]], ref, atol=2e-4, rtol=1e-4)


def test_magphase_and_normalise():
    spec = stft(np.random.default_rng(3).standard_normal(8000).astype(np.float32))
    mag, phase = magphase(spec)
    np.testing.assert_allclose(mag * phase, spec, atol=1e-5)
    norm, peak = normalise(mag)
    assert norm.max() == pytest.approx(1.0) and peak == pytest.approx(mag.max())
    same, _ = normalise(mag * 0.5, peak)           # a stem divided by the mixture's peak
    np.testing.assert_allclose(same, norm * 0.5, rtol=1e-6)
    silent, p = normalise(np.zeros((513, 4), np.float32))
    assert p == 1.0 and not np.any(silent)


def test_spectrogram_is_16k_mono():
    sr = 44100
    y = np.random.default_rng(4).standard_normal((2, sr)).astype(np.float32)
    mag, phase = spectrogram(y, sr)
    assert mag.shape == (constants.N_FFT // 2 + 1, n_frames(16000))
    assert mag.dtype == np.float32 and phase.dtype == np.complex64
