"""Shared fixtures: audio the tests make themselves, and small models."""
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
#: The repository's root (tests in sub-folders use it for examples/, scripts/ and cwd).
REPO_ROOT = os.path.dirname(HERE)
if HERE not in sys.path:   # conftest, fakedata and the helpers import from any sub-folder
    sys.path.insert(0, HERE)


def load_script(name):
    """The globals of ``scripts/<name>`` (its functions, ``main``), loaded as a module is."""
    import runpy

    return runpy.run_path(os.path.join(REPO_ROOT, "scripts", name))


def toy_stems(seconds=4.0, sr=44100, channels=2, seed=0):
    """A toy "song": a sung-like harmonic voice over noise drums and a bass line.

    Parameters
    ----------
    seconds : float
    sr : int
    channels : int
    seed : int

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    notes = 220.0 * 2 ** (rng.integers(0, 12, size=max(1, int(seconds * 2))) / 12)
    f0 = np.repeat(notes, -(-n // len(notes)))[:n] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 12))
    gate = (np.sin(2 * np.pi * 2 * t) > -0.6).astype(float)
    voice *= gate
    beat = np.zeros(n)
    period = int(sr * 0.25)
    for start in range(0, n, period):
        length = min(int(0.05 * sr), n - start)
        beat[start:start + length] += rng.standard_normal(length) * np.exp(-np.arange(length) / (0.01 * sr))
    bass = 0.4 * np.sin(2 * np.pi * 55 * t) * (1 + np.sign(np.sin(2 * np.pi * 0.5 * t))) / 2
    acc = 0.6 * beat + bass
    pan_v = np.linspace(0.9, 1.0, channels)[:, None]
    pan_a = np.linspace(1.0, 0.7, channels)[:, None]
    v = (0.25 * voice[None, :] * pan_v).astype(np.float32)
    a = (0.25 * acc[None, :] * pan_a).astype(np.float32)
    return v, a


def write_toy_folder(folder, tracks, seconds, sr, channels, seed):
    """Write ``tracks`` toy songs in the synth layout: ``folder/track<i>/{mixture,vocals,accompaniment}.wav``.

    Track ``i`` is :func:`toy_stems` with seed ``seed + i``, written as float WAV.
    """
    import soundfile as sf

    for i in range(tracks):
        v, a = toy_stems(seconds=seconds, sr=sr, channels=channels, seed=seed + i)
        d = os.path.join(str(folder), f"track{i}")
        os.makedirs(d)
        for name, x in (("mixture", v + a), ("vocals", v), ("accompaniment", a)):
            sf.write(os.path.join(d, f"{name}.wav"), x.T, sr, subtype="FLOAT")


@pytest.fixture(scope="session")
def toy_song(tmp_path_factory):
    """A 4 s 44.1 kHz stereo wav with its stems: (path, vocals, accompaniment, sr)."""
    import soundfile as sf

    d = tmp_path_factory.mktemp("song")
    v, a = toy_stems()
    path = d / "toy song.wav"
    sf.write(str(path), (v + a).T, 44100, subtype="FLOAT")
    return str(path), v, a, 44100


@pytest.fixture(scope="session")
def random_model(tmp_path_factory):
    """An untrained UNet saved as npz + json (fast; for plumbing tests)."""
    import chainer

    from unetvocalsep.model_io import save_model
    from unetvocalsep.network import UNet

    chainer.global_config.dtype = np.float32
    np.random.seed(0)
    path = tmp_path_factory.mktemp("model") / "random.npz"
    save_model(str(path), UNet())
    return str(path)


def sdr(reference, estimate):
    """Plain signal-to-distortion ratio in dB (no allowed distortion filter)."""
    reference = np.asarray(reference, dtype=np.float64)
    err = reference - np.asarray(estimate, dtype=np.float64)
    return 10 * np.log10(np.sum(reference ** 2) / max(np.sum(err ** 2), 1e-20))
