"""Downmix and sample-rate conversion: the article's 16 kHz mono input.

The article loads every file with ``librosa.load(sr=16000)``; here soxr's
high-quality preset (the one librosa uses) does the resampling.

Examples
--------
>>> import numpy as np
>>> resample(np.zeros((2, 44100), np.float32), 44100, 16000).shape
(2, 16000)
"""
import numpy as np

from . import constants


def to_mono(y):
    """Average the channels.

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples)

    Returns
    -------
    numpy.ndarray, shape (1, samples), float32
    """
    return np.mean(y, axis=0, keepdims=True, dtype=np.float32)


def to_mono16(y, sr):
    """Mix down to mono and resample to the model's 16 kHz.

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples) or (samples,)
    sr : int

    Returns
    -------
    numpy.ndarray, shape (1, samples16), float32

    Examples
    --------
    >>> import numpy as np
    >>> to_mono16(np.zeros((2, 44100), np.float32), 44100).shape
    (1, 16000)
    """
    return resample(to_mono(np.atleast_2d(np.asarray(y, dtype=np.float32))), sr, constants.SR)


def resample(y, orig_sr, target_sr):
    """Resample with soxr (the high-quality preset librosa uses).

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples) or (samples,)
    orig_sr, target_sr : int

    Returns
    -------
    numpy.ndarray, same leading shape, ``ceil(samples * target_sr / orig_sr)`` samples, float32
    """
    if orig_sr == target_sr:
        return np.asarray(y, dtype=np.float32)
    import soxr

    y = np.asarray(y, dtype=np.float32)
    out = soxr.resample(np.ascontiguousarray(y.T), orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)
