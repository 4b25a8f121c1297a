"""The multichannel Wiener filter option (``--wiener``), with sigsep's norbert.

The U-Net gives one soft mask per time-frequency bin, shared by the
channels. Open-Unmix and Spleeter refine such estimates with a multichannel
Wiener filter: from the two magnitude estimates (vocals = |X|·m,
accompaniment = |X|·(1−m), per channel) norbert's expectation-maximisation
step fits each source's power spectrum and spatial covariance, and filters
the mixture STFT with the resulting 2x2 (stereo) Wiener gains. This module
applies it to one block of a window's full-rate STFT, so the streaming
windows and blocks keep memory flat. The vocal STFT is returned; the
accompaniment is the input minus the vocals, so the stems add up to the
input exactly as without the filter (norbert's own accompaniment differs
from that only by its regularisation, about 1e-8 of the mixture's power).

The figures that decided whether it is the default are in docs/HIGHBAND.md.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> spec = (rng.standard_normal((2, 10, 33)) + 1j * rng.standard_normal((2, 10, 33))).astype(np.complex64)
>>> v = wiener_vocals(spec, np.full((10, 33), 0.5, np.float32))
>>> v.shape, v.dtype
((2, 10, 33), dtype('complex64'))
"""
import numpy as np

from .errors import UserError

#: EM iterations of the filter (Open-Unmix's and Spleeter's default is 1).
ITERATIONS = 1


def _norbert():
    """Import norbert (a dependency), quietly: 0.2.1 imports a SciPy alias SciPy deprecates."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import norbert
    except ImportError as exc:
        raise UserError(f"the Wiener filter needs norbert ({exc}): pip install 'norbert>=0.2.1'") \
            from None
    return norbert


def wiener_vocals(spec, mask, iterations=ITERATIONS):
    """The vocal STFT refined by norbert's multichannel Wiener filter.

    Parameters
    ----------
    spec : numpy.ndarray, shape (channels, frames, bins), complex
        The mixture's STFT, channel by channel, on the output rate's grid.
    mask : numpy.ndarray, shape (frames, bins), float32
        The vocal mask mapped onto that grid (shared by the channels).
    iterations : int
        EM iterations (at least 1).

    Returns
    -------
    numpy.ndarray, shape (channels, frames, bins), complex64
        The vocals' STFT. The accompaniment's is ``spec`` minus it.
    """
    norbert = _norbert()
    x = np.moveaxis(np.asarray(spec), 0, -1).astype(np.complex128)     # (frames, bins, ch)
    mag = np.abs(x)
    m = np.clip(np.asarray(mask, dtype=np.float64), 0.0, 1.0)[..., None]
    v = np.stack([mag * m, mag * (1.0 - m)], axis=-1)                  # (frames, bins, ch, 2)
    # double precision, as norbert advises: its regularisation is sqrt(eps)
    # of the mixture's (rescaled) power, which in single precision would
    # swallow passages 60 dB under the peak
    y = norbert.wiener(v, x, iterations=max(int(iterations), 1), use_softmask=False)
    return np.ascontiguousarray(np.moveaxis(y[..., 0], -1, 0)).astype(np.complex64)
