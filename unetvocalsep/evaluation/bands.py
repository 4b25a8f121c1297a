"""Vocal energy per frequency band, an estimate against the truth (issue 26).

One median SDR can hide a hole in a band: the first bundled models gave
vocals 10-40 dB too quiet at 5.5-7.7 kHz. These functions measure that on
one 4096-point Hann STFT (50 % overlap), at the audio's own rate and
channels, and serve ``scripts/band_energy.py`` (one band, per track) and
``scripts/band_profile.py`` (every band, holes per frame, a figure).

A *hole* is a voiced frame -- one where the true vocals' energy in
``HOLE_BAND`` is within ``HOLE_RANGE_DB`` of the track's loudest frame
there -- in which the estimate is more than ``HOLE_DB`` under the truth.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.evaluation import bands
>>> t = np.arange(16000) / 16000
>>> y = np.sin(2 * np.pi * 6000 * t)[None]          # (channels, samples)
>>> ratio = bands.band_energy(y / 10, 16000, 5500, 7700) / bands.band_energy(y, 16000, 5500, 7700)
>>> float(round(10 * np.log10(ratio), 1))
-20.0
"""
import numpy as np

N_FFT = 4096
HOLE_BAND = (5500, 7700)   # Hz: where the first bundled models lost the vocals
HOLE_DB = 20.0             # an estimate this far under the truth is a hole
HOLE_RANGE_DB = 30.0       # a frame is voiced within this of the loudest in the band


def spectrogram(y, sr, n_fft=N_FFT):
    """Power per STFT bin and frame, summed over channels.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
    sr : int
        Sample rate in Hz.
    n_fft : int
        Hann window length; the hop is half of it.

    Returns
    -------
    freqs : np.ndarray, shape (n_fft // 2 + 1,)
        Bin frequencies in Hz.
    power : np.ndarray, shape (n_fft // 2 + 1, frames)
        ``|STFT|**2``, float64.

    Examples
    --------
    >>> f, p = spectrogram(np.ones((2, 8192)), 16000)
    >>> f.shape, p.shape
    ((2049,), (2049, 5))
    """
    import scipy.signal

    f, _, z = scipy.signal.stft(np.asarray(y, np.float64), fs=sr, nperseg=n_fft,
                                noverlap=n_fft // 2)
    p = np.abs(z) ** 2
    return f, p.reshape(-1, *p.shape[-2:]).sum(axis=0)


def band_energy(y, sr, lo, hi, n_fft=N_FFT):
    """Energy of ``y`` in ``[lo, hi)`` Hz, summed over channels and frames.

    Parameters
    ----------
    y : np.ndarray, shape (samples,) or (channels, samples)
    sr : int
        Sample rate in Hz.
    lo, hi : float
        Band edges in Hz.

    Returns
    -------
    float

    Examples
    --------
    >>> y = np.random.default_rng(0).standard_normal((1, 16000))
    >>> band_energy(2 * y, 16000, 0, 8000) / band_energy(y, 16000, 0, 8000)
    4.0
    """
    f, p = spectrogram(y, sr, n_fft)
    return float(p[(f >= lo) & (f < hi)].sum())


def band_sums(freqs, power, edges):
    """``power`` summed over each band ``[edges[i], edges[i+1])`` Hz.

    Parameters
    ----------
    freqs : np.ndarray, shape (bins,)
    power : np.ndarray, shape (bins,) or (bins, frames)
    edges : sequence of float, length bands + 1

    Returns
    -------
    np.ndarray, shape (bands,) or (bands, frames)

    Examples
    --------
    >>> band_sums(np.arange(0, 1000, 100.0), np.arange(10.0), [0, 300, 1000])
    array([ 3., 42.])
    """
    return np.array([power[(freqs >= lo) & (freqs < hi)].sum(axis=0)
                     for lo, hi in zip(edges[:-1], edges[1:])])


def ratio_db(est, true):
    """``10 log10(est / true)`` where the truth has energy, NaN elsewhere.

    Examples
    --------
    >>> ratio_db(np.array([10.0, 1.0, 5.0]), np.array([1.0, 10.0, 0.0]))
    array([ 10., -10.,  nan])
    """
    ok = true > 1e-10
    out = np.full(np.shape(true), np.nan)
    out[ok] = 10 * np.log10(np.maximum(est[ok], 1e-20) / true[ok])
    return out


def band_ratio_db(freqs, num, den, band=HOLE_BAND):
    """``10 log10(num / den)`` per frame over one band.

    Parameters
    ----------
    freqs : np.ndarray, shape (bins,)
    num, den : np.ndarray, shape (bins, frames)
        Power spectrograms of one track (say the accompaniment and the vocals).
    band : (float, float)
        Edges in Hz.

    Returns
    -------
    np.ndarray, shape (frames,)
    """
    b = (freqs >= band[0]) & (freqs < band[1])
    return 10 * np.log10((num[b].sum(axis=0) + 1e-20) / (den[b].sum(axis=0) + 1e-20))


def hole_frames(freqs, est, true):
    """The voiced frames and, of them, the holes.

    Parameters
    ----------
    freqs : np.ndarray, shape (bins,)
    est, true : np.ndarray, shape (bins, frames)
        Power spectrograms of the estimated and the true vocals.

    Returns
    -------
    voiced, hole : np.ndarray of bool, shape (frames,)
        ``hole`` implies ``voiced``; no frame is voiced where the truth is silent.

    Examples
    --------
    >>> f = np.array([6000.0])
    >>> voiced, hole = hole_frames(f, np.array([[1.0, 1e-3, 0.0]]), np.array([[1.0, 1.0, 1e-9]]))
    >>> voiced.tolist(), hole.tolist()
    ([True, True, False], [False, True, False])
    """
    b = (freqs >= HOLE_BAND[0]) & (freqs < HOLE_BAND[1])
    e, t = est[b].sum(axis=0), true[b].sum(axis=0)
    if t.max() <= 1e-10:
        return np.zeros(t.shape, bool), np.zeros(t.shape, bool)
    voiced = t > t.max() * 10 ** (-HOLE_RANGE_DB / 10)
    return voiced, voiced & (e < t * 10 ** (-HOLE_DB / 10))


def share_of(voiced, hole):
    """``hole``'s share of the ``voiced`` frames (NaN where none is voiced).

    Examples
    --------
    >>> share_of(np.array([True, True, False]), np.array([False, True, False]))
    0.5
    """
    return float(hole.sum() / voiced.sum()) if voiced.any() else np.nan


def hole_share(freqs, est, true):
    """Share of the voiced frames where the estimate is more than ``HOLE_DB`` under the truth.

    ``freqs``, ``est`` and ``true`` are as for :func:`hole_frames`; NaN where
    the truth has no voiced frame.
    """
    return share_of(*hole_frames(freqs, est, true))
