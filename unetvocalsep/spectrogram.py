"""STFT, inverse STFT and the article's magnitude normalisation.

The transform matches ``librosa.stft(y, n_fft=1024, hop_length=512,
win_length=1024, window='hann', center=True)`` frame for frame (zero padding
of ``n_fft // 2`` at the start), except that it adds frames at the end until
every sample is covered by two windows. That keeps the inverse exact for every
length (``istft(stft(y), length=len(y))`` returns ``y`` to float32
precision), where the last half-covered samples would otherwise be divided by
a window that is nearly zero.
"""
import numpy as np

from . import constants
from .resampling import to_mono16


def hann(n):
    """Periodic Hann window (as ``scipy.signal.get_window('hann', n)``).

    Parameters
    ----------
    n : int

    Returns
    -------
    numpy.ndarray, shape (n,), float32
    """
    k = np.arange(n, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * k / n)).astype(np.float32)


def n_frames(n_samples, hop=constants.HOP):
    """Number of STFT frames for a signal of ``n_samples``.

    Parameters
    ----------
    n_samples : int
    hop : int

    Returns
    -------
    int
        ``1 + ceil(n_samples / hop)``.
    """
    return 1 + -(-int(n_samples) // hop)


def stft(y, n_fft=constants.N_FFT, hop=constants.HOP):
    """Short-time Fourier transform with a Hann window of length ``n_fft``.

    Parameters
    ----------
    y : numpy.ndarray, shape (..., samples)
    n_fft : int
        FFT size and window length.
    hop : int

    Returns
    -------
    numpy.ndarray, shape (..., n_fft // 2 + 1, frames), complex64
        ``frames == n_frames(samples, hop)``; frame ``t`` is centred on
        sample ``t * hop``.
    """
    return np.ascontiguousarray(np.swapaxes(stft_frames(y, n_fft, hop), -1, -2))


def stft_frames(y, n_fft=constants.N_FFT, hop=constants.HOP):
    """:func:`stft` in frame-major order (no transpose; what the separator uses).

    Parameters
    ----------
    y : numpy.ndarray, shape (..., samples)
    n_fft : int
    hop : int

    Returns
    -------
    numpy.ndarray, shape (..., frames, n_fft // 2 + 1), complex64
        ``stft(y, n_fft, hop)`` with the last two axes swapped.
    """
    import scipy.fft

    y = np.asarray(y, dtype=np.float32)
    n = y.shape[-1]
    t = n_frames(n, hop)
    pad_left = n_fft // 2
    total = (t - 1) * hop + n_fft
    padded = np.zeros(y.shape[:-1] + (total,), dtype=np.float32)
    padded[..., pad_left:pad_left + n] = y
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]
    frames = frames * hann(n_fft)
    spec = scipy.fft.rfft(frames, axis=-1, overwrite_x=True, workers=-1)
    return spec.astype(np.complex64, copy=False)


def istft(spec, length, hop=constants.HOP):
    """Inverse of :func:`stft` by weighted overlap-add.

    Parameters
    ----------
    spec : numpy.ndarray, shape (..., n_fft // 2 + 1, frames), complex
    length : int
        Number of samples to return (the original signal length).
    hop : int

    Returns
    -------
    numpy.ndarray, shape (..., length), float32
    """
    return istft_frames(np.swapaxes(np.asarray(spec), -1, -2), length, hop)


def istft_frames(spec, length, hop=constants.HOP):
    """:func:`istft` of a frame-major spectrogram (as :func:`stft_frames` returns).

    Parameters
    ----------
    spec : numpy.ndarray, shape (..., frames, n_fft // 2 + 1), complex
    length : int
    hop : int

    Returns
    -------
    numpy.ndarray, shape (..., length), float32
    """
    import scipy.fft

    spec = np.asarray(spec)
    n_fft = 2 * (spec.shape[-1] - 1)
    t = spec.shape[-2]
    lead = spec.shape[:-2]
    window = hann(n_fft)
    frames = scipy.fft.irfft(spec, n=n_fft, axis=-1, workers=-1).astype(np.float32, copy=False)
    frames *= window
    pad_left = n_fft // 2
    if n_fft == 2 * hop:
        # half overlap (every grid this package uses): output block j (hop
        # samples) is the first half of frame j plus the second half of frame
        # j - 1, and the window-square sum is the same for every inner block
        blocks = np.zeros(lead + (t + 1, hop), dtype=np.float32)
        blocks[..., :t, :] = frames[..., :hop]
        blocks[..., 1:, :] += frames[..., hop:]
        inv = np.empty((t + 1, hop), dtype=np.float32)
        inv[1:t] = 1 / (_wsq_half(window, hop))
        inv[0] = 1 / np.maximum(window[:hop] ** 2, np.finfo(np.float32).tiny)
        inv[t] = 1 / np.maximum(window[hop:] ** 2, np.finfo(np.float32).tiny)
        blocks *= inv
        out = blocks.reshape(lead + ((t + 1) * hop,))
        return out[..., pad_left:pad_left + length]
    total = (t - 1) * hop + n_fft
    out = np.zeros(lead + (total,), dtype=np.float32)
    norm = np.zeros(total, dtype=np.float32)
    wsq = window * window
    for i in range(t):
        out[..., i * hop:i * hop + n_fft] += frames[..., i, :]
        norm[i * hop:i * hop + n_fft] += wsq
    out = out[..., pad_left:pad_left + length]
    norm = norm[pad_left:pad_left + length]
    return out / np.maximum(norm, np.finfo(np.float32).tiny)


def _wsq_half(window, hop):
    """Sum of the squared window over two half-overlapping frames, shape (hop,).

    Parameters
    ----------
    window : numpy.ndarray, shape (2 * hop,)
    hop : int

    Returns
    -------
    numpy.ndarray, shape (hop,), float32
    """
    return (window[:hop] ** 2 + window[hop:] ** 2).astype(np.float32)


def magphase(spec):
    """Split a complex spectrogram into magnitude and unit phase.

    Parameters
    ----------
    spec : numpy.ndarray, shape (..., bins, frames), complex

    Returns
    -------
    mag : numpy.ndarray, same shape, float32
    phase : numpy.ndarray, same shape, complex64
        ``spec == mag * phase``; 1 where ``mag`` is 0 or subnormal (below
        ``finfo(float32).tiny``, where the complex division would overflow).
    """
    mag = np.abs(spec).astype(np.float32)
    phase = np.ones_like(spec, dtype=np.complex64)
    np.divide(spec, mag, out=phase, where=mag >= np.finfo(np.float32).tiny)
    return mag, phase


def normalise(mag, peak=None):
    """The article's normalisation: divide by the maximum of the mixture.

    Parameters
    ----------
    mag : numpy.ndarray, shape (bins, frames)
    peak : float or None
        Divide by this instead of ``mag.max()`` (for example the maximum of
        the mixture when ``mag`` is one of its stems).

    Returns
    -------
    mag : numpy.ndarray, shape (bins, frames), float32
    peak : float
        The divisor (1 when the input is silent).
    """
    if peak is None:
        peak = float(np.max(mag)) if mag.size else 0.0
    if not peak > 0:
        peak = 1.0
    return (np.asarray(mag, dtype=np.float32) / np.float32(peak)), peak


def spectrogram(y, sr):
    """The network's input: 16 kHz mono magnitude and phase (the article's ``LoadAudio``).

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples) or (samples,)
    sr : int

    Returns
    -------
    mag : numpy.ndarray, shape (513, frames), float32
        Not normalised.
    phase : numpy.ndarray, shape (513, frames), complex64
    """
    return magphase(stft(to_mono16(y, sr)[0]))
