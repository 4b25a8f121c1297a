"""The mask above the passband edge (about 7.6 kHz), where the 16 kHz network hears nothing.

The resampler's passband ends near 7.6 kHz (:func:`passband_hz`), so the
network's input is empty above :func:`passband_bin` and its mask there was
never trained. :func:`fill_highband` replaces those rows, and everything above
8 kHz at higher rates, by one value per frame taken from below by the
``highband`` rule (:data:`HIGHBANDS`). docs/HIGHBAND.md has the measurements.

Examples
--------
>>> import numpy as np
>>> m = fill_highband(np.full((513, 4), 0.5, np.float32))
>>> float(m[-1, 0])
0.5
"""
import functools

import numpy as np

from . import constants
from .errors import UserError
from .resampling import resample

#: What the mask is above the passband edge (:func:`passband_hz`), where the
#: model sees nothing, one value per frame (docs/HIGHBAND.md has the
#: measurements that chose the default):
#:
#: - ``'weighted'`` (the default): the share of the frame's 4 kHz .. edge
#:   energy that the mask gives to the vocals, ``sum(m |X|^2) / sum(|X|^2)``
#:   (the plain mean where the mixture's spectrogram is not at hand);
#: - ``'average'``: the frame's mean mask over 4 kHz .. the edge;
#: - ``'edge'``: the frame's mean mask over the last 1 kHz below the edge;
#: - ``'zero'``: 0 (nothing above the edge goes to the vocals);
#: - ``'article'``: no edge: the network's own mask up to 8 kHz (at
#:   ``--sr 16000`` exactly the article's output), and above 8 kHz the frame's
#:   mean over 4-8 kHz, untrained rows included (the rule before 0.12).
HIGHBANDS = ("weighted", "average", "edge", "zero", "article")
#: The default rule of :data:`HIGHBANDS`.
DEFAULT_HIGHBAND = "weighted"
#: Where ``'weighted'`` and ``'average'`` start: 4 kHz.
LOW_HZ = 4000.0
#: ``'edge'`` averages the mask over this band below the edge, Hz.
EDGE_HZ = 1000.0
#: The passband edge is where the resampler's response falls this far, dB.
PASSBAND_DROP_DB = 3.0


def check_highband(highband):
    """Raise :class:`UserError` unless ``highband`` is one of :data:`HIGHBANDS`."""
    if highband not in HIGHBANDS:
        raise UserError(f"unknown highband rule {highband!r} (one of {', '.join(HIGHBANDS)})")


@functools.lru_cache(maxsize=None)
def passband_hz(orig_sr=44100, drop_db=PASSBAND_DROP_DB):
    """The passband edge of the resampler separation uses, measured, Hz.

    A unit impulse at ``orig_sr`` goes through :func:`unetvocalsep.resampling.resample`
    to 16 kHz; the edge is the highest frequency where the response is
    within ``drop_db`` of its low-frequency level. Above it the 16 kHz
    audio the network was trained on (resampled the same way) holds almost
    nothing, so the network's mask there was never constrained by its loss.
    soxr's HQ preset gives about 7,600 Hz from every common rate (44.1, 48,
    22.05 kHz...).

    Parameters
    ----------
    orig_sr : int
        The rate resampled from (the corpora's 44.1 kHz by default).
    drop_db : float

    Returns
    -------
    float

    Examples
    --------
    >>> 7000 < passband_hz() < 8000
    True
    """
    x = np.zeros(orig_sr, np.float32)
    x[orig_sr // 2] = 1.0
    y = resample(x, orig_sr, constants.SR).astype(np.float64)
    n = 8 * constants.SR
    h = np.abs(np.fft.rfft(y, n=n))
    freqs = np.arange(h.size) * constants.SR / n
    h_db = 20 * np.log10(h / h[freqs < 1000].mean() + 1e-12)
    return float(freqs[np.nonzero(h_db > -drop_db)[0].max()])


def passband_bin():
    """The last 16 kHz STFT bin whose mask is the network's own (about 486 of 512).

    Returns
    -------
    int
        ``floor(passband_hz() / 15.625)``; rows above it are replaced by the
        ``highband`` rule (:func:`fill_highband`).

    Examples
    --------
    >>> 480 < passband_bin() < 500
    True
    """
    return min(int(passband_hz() // (constants.SR / constants.N_FFT)), constants.N_BINS)


def fill_highband(mask, highband=DEFAULT_HIGHBAND, mag=None, copy=True):
    """A 16 kHz mask with the rows above the passband edge set by the ``highband`` rule.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames), float32
        A 16 kHz mask (:func:`compute_mask`).
    highband : str
        One of :data:`HIGHBANDS`; ``'article'`` returns the mask unchanged.
    mag : numpy.ndarray, shape (513, frames), optional
        The mixture's 16 kHz magnitude, for ``'weighted'`` (without it,
        ``'weighted'`` is ``'average'``).
    copy : bool
        Work on a copy (otherwise in place).

    Returns
    -------
    numpy.ndarray, shape (513, frames), float32
        Rows ``passband_bin() + 1 .. 512`` hold the frame's high-band value.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.full((513, 3), 0.2, np.float32)
    >>> m[500:] = 1.0                      # untrained rows, as the network gives them
    >>> bool(np.allclose(fill_highband(m)[passband_bin() + 1:], 0.2))
    True
    """
    check_highband(highband)
    out = np.array(mask, dtype=np.float32, copy=True) if copy else mask
    if highband != "article":
        power = None if mag is None else np.square(np.asarray(mag, dtype=np.float32).T)
        fill_frames(out.T, constants.SR / constants.N_FFT, highband, power)
    return out


def fill_frames(mask_frames, bin_hz, highband, power=None):
    """Fill a frame-major mask above the passband edge, in place, on any STFT grid.

    Parameters
    ----------
    mask_frames : numpy.ndarray, shape (frames, bins), float32
        Bin ``k`` is at ``k * bin_hz``; the bins up to the edge hold the mask.
    bin_hz : float
    highband : str
        One of :data:`HIGHBANDS` other than ``'article'``.
    power : numpy.ndarray, shape (frames, bins), optional
        The mixture's power spectrogram on the same grid (for ``'weighted'``).

    Returns
    -------
    numpy.ndarray, shape (frames, 1), float32
        The value written above the edge, per frame.
    """
    edge = passband_hz()
    last = min(int(edge // bin_hz), mask_frames.shape[1] - 1)   # the last trusted bin
    if highband == "zero":
        h = np.zeros((mask_frames.shape[0], 1), np.float32)
    else:
        low = LOW_HZ if highband in ("average", "weighted") else edge - EDGE_HZ
        lo = min(int(np.ceil(low / bin_hz)), last)
        band = mask_frames[:, lo:last + 1]
        h = band.mean(axis=1, keepdims=True)
        if highband == "weighted" and power is not None:
            p = power[:, lo:last + 1]
            total = p.sum(axis=1, keepdims=True)
            share = (band * p).sum(axis=1, keepdims=True) / np.maximum(total, 1e-30)
            h = np.where(total > 0, share, h).astype(np.float32)
    mask_frames[:, last + 1:] = h
    return h
