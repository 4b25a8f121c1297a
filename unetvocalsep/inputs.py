"""What separation accepts: arrays as float32, channels first, checked.

Examples
--------
>>> import numpy as np
>>> x, one_d, transposed = as_channels_first(np.zeros((44100, 2), dtype=np.int16))
>>> x.shape, x.dtype, transposed
((2, 44100), dtype('float32'), True)
"""
import numpy as np

from .errors import AudioError, UserError
from .limits import check_rate, check_samples

#: Shortest input accepted, seconds (one STFT hop at 16 kHz).
MIN_INPUT_SECONDS = 0.02


def to_float32(y):
    """Samples as float32 at full scale 1.0: floats as they are, integer PCM scaled.

    Parameters
    ----------
    y : array_like
        Float, or integer PCM: int16 is scaled by 1/32768, int32 by 1/2**31,
        uint8 around 128.

    Returns
    -------
    numpy.ndarray, float32, the shape of ``y``

    Raises
    ------
    AudioError
        A dtype that is not audio (bool, complex, text...).

    Examples
    --------
    >>> import numpy as np
    >>> to_float32(np.array([-32768, 16384], dtype=np.int16))
    array([-1. ,  0.5], dtype=float32)
    """
    a = np.asarray(y)
    kind = a.dtype.kind
    if kind == "f":
        return a.astype(np.float32, copy=False)
    if kind == "i":
        return (a.astype(np.float64) / float(2 ** (8 * a.dtype.itemsize - 1))).astype(np.float32)
    if kind == "u":
        half = float(2 ** (8 * a.dtype.itemsize - 1))
        return ((a.astype(np.float64) - half) / half).astype(np.float32)
    raise AudioError(f"audio must be float or integer PCM samples, got dtype {a.dtype}")


def as_channels_first(y):
    """An audio array as float32 ``(channels, samples)``, and how to give it back.

    Parameters
    ----------
    y : array_like
        1-D, or 2-D in either layout (the longer axis is time); float, or
        integer PCM (scaled to full scale 1.0).

    Returns
    -------
    x : numpy.ndarray, shape (channels, samples), float32
    one_d : bool
        ``y`` was 1-D.
    transposed : bool
        ``y`` was (samples, channels).

    Raises
    ------
    AudioError
        Not 1-D or 2-D, or a dtype that is not audio (bool, complex, text...).

    Examples
    --------
    >>> import numpy as np
    >>> x, one_d, transposed = as_channels_first(np.zeros((44100, 2), dtype=np.int16))
    >>> x.shape, x.dtype, transposed
    ((2, 44100), dtype('float32'), True)
    """
    a = np.asarray(y)
    if a.ndim not in (1, 2):
        raise AudioError(f"audio must be 1-D (samples,) or 2-D (channels, samples) or "
                         f"(samples, channels); got an array of shape {a.shape}")
    x = to_float32(a)
    one_d = x.ndim == 1
    x = np.atleast_2d(x)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    return np.ascontiguousarray(x), one_d, transposed


def check_signal(x, sr, what):
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise UserError(f"invalid sample rate: {sr!r}")
    check_rate(int(sr), what)
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioError(f"{what} has no samples")
    if x.shape[1] < MIN_INPUT_SECONDS * sr:
        raise AudioError(f"{what} too short ({x.shape[1] / sr:.3f} s)")
    check_samples(x, what)
