"""The mask: from the network at 16 kHz to the stems at the input's own rate.

For one window of audio at rate ``sr``:

1. :func:`compute_mask`: the U-Net's mask of the normalised 16 kHz magnitude
   (bins 1..512; the DC row is 0), the article's ``ComputeMask``;
2. :func:`~unetvocalsep.highband.fill_highband`: the mask is only trusted up to
   :func:`~unetvocalsep.highband.passband_bin`
   (the resampler's passband edge, about 7.6 kHz: above it the 16 kHz signal
   the network was trained on is empty, so its output there is arbitrary,
   about 1.0 for the bundled model); above it, and above 8 kHz at higher
   rates, the mask is one value per frame taken from below by the
   ``highband`` rule (:data:`~unetvocalsep.highband.HIGHBANDS`);
3. :func:`map_mask_frames`: that mask mapped onto the STFT grid of ``sr``
   (:func:`stft_params`), bilinearly in time and frequency;
4. :func:`apply_mask`: vocals = STFT · mask with the mixture phase, inverted
   (or refined by a multichannel Wiener filter, ``wiener=True``);
   accompaniment = input − vocals, so the two always add up to the input.

:func:`vocal_mask` turns the mask of a model trained on the accompaniment
("inst") into a vocal mask.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.masking import apply_mask, stft_params
>>> stft_params(44100)
(2880, 1440)
>>> y = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
>>> v, a = apply_mask(y, 44100, np.full((513, 32), 0.5, np.float32))
>>> bool(np.allclose(v + a, y, atol=1e-5))
True
"""
import numpy as np

from . import constants
from .errors import UserError
from .highband import DEFAULT_HIGHBAND, check_highband, fill_frames
from .spectrogram import istft_frames, n_frames, stft_frames


def compute_mask(net, mag, hard=False):
    """The mask of the article's ``ComputeMask``: the network's own output.

    Rows above :func:`~unetvocalsep.highband.passband_bin` (about 7.6-8 kHz) are returned as the
    network gives them, as in the article; they were never trained (the
    16 kHz input is empty there) and the bundled model gives about 1.0 in
    them. Separation replaces them by
    :func:`~unetvocalsep.highband.fill_highband`, and so should a
    caller who applies this mask to audio itself.

    Parameters
    ----------
    net : callable or UNet
        A network from :func:`unetvocalsep.backends.load_network` (``net(x)``
        maps a (1, 1, 512, frames) input to its mask; the fast CPU code was
        chosen when it was loaded), or a chainer
        :class:`~unetvocalsep.network.UNet`, run as it is in chainer's test
        mode on the device it lives on, as the article does.
    mag : numpy.ndarray, shape (513, frames), float32
        Normalised magnitude (divided by its maximum).
    hard : bool
        Return the binary mask ``mask > 0.5``.

    Returns
    -------
    numpy.ndarray, shape (513, frames), float32
        The DC row is 0; rows above
        :func:`~unetvocalsep.highband.passband_bin` are untrained (see
        above).

    Examples
    --------
    >>> from unetvocalsep.backends import load_network
    >>> net, _ = load_network(None)
    >>> compute_mask(net, np.full((513, 40), 0.1, np.float32)).shape
    (513, 40)
    """
    mag = np.asarray(mag)
    if mag.ndim != 2 or mag.shape[0] != constants.N_BINS + 1 or mag.shape[1] == 0:
        raise UserError(f"compute_mask needs a magnitude of shape ({constants.N_BINS + 1}, frames) "
                        f"(the 16 kHz STFT's |X|, frequency first); got shape {mag.shape}")
    t = mag.shape[1]
    padded_t = max(constants.TIME_MULTIPLE, -(-t // constants.TIME_MULTIPLE) * constants.TIME_MULTIPLE)
    x = np.zeros((1, 1, constants.N_BINS, padded_t), dtype=np.float32)
    x[0, 0, :, :t] = mag[1:, :]
    if hasattr(net, "namedparams"):   # a chainer UNet: the article's own call
        from .network import chainer_forward

        m = chainer_forward(net, x, getattr(net, "device", None))[0, 0, :, :t]
    else:
        m = net(x)[0, 0, :, :t]
    mask = np.zeros((constants.N_BINS + 1, t), dtype=np.float32)
    mask[1:] = m
    if hard:
        mask = (mask > constants.HARD_MASK_THRESHOLD).astype(np.float32)
    return mask


def stft_params(sr):
    """Window and hop at rate ``sr`` with (about) the time span of 1024 / 512 at 16 kHz.

    The window is the smallest even length with only the prime factors 2, 3
    and 5 that is at least ``1024 * sr / 16000`` (at most a few per cent
    longer), because FFTs of such sizes are several times faster (44.1 kHz:
    2880 instead of 2822 samples). The mask is interpolated onto this grid by
    time in seconds and frequency in Hz, so the exact size does not matter.

    Parameters
    ----------
    sr : int

    Returns
    -------
    (int, int)
        ``(n_fft, hop)`` with ``n_fft == 2 * hop``.
    """
    if sr == constants.SR:
        return constants.N_FFT, constants.HOP
    n = max(2, 2 * int(round(constants.HOP * sr / constants.SR)))
    while True:
        m = n // 2
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n, n // 2
        n += 2


def map_mask(mask, sr, n_frames_out, highband=DEFAULT_HIGHBAND, power=None):
    """Map a 16 kHz mask onto the STFT grid of rate ``sr``.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames16), float32
    sr : int
        Target rate; its grid is given by :func:`stft_params`.
    n_frames_out : int
        Number of frames of the target STFT.
    highband : str
        The rule above the passband edge (:data:`HIGHBANDS`,
        :func:`fill_highband`), which also gives the mask above 8 kHz.
    power : numpy.ndarray, shape (n_fft // 2 + 1, n_frames_out), optional
        The mixture's power spectrogram on the target grid, for ``'weighted'``.

    Returns
    -------
    numpy.ndarray, shape (n_fft // 2 + 1, n_frames_out), float32
        A transposed view of a frame-major array (see :func:`map_mask_frames`).
    """
    return map_mask_frames(mask, sr, n_frames_out, highband,
                           power=None if power is None else np.asarray(power).T).T


def map_mask_frames(mask, sr, n_frames_out, highband=DEFAULT_HIGHBAND, first_frame=0, power=None):
    """:func:`map_mask` in frame-major order, for :func:`~unetvocalsep.spectrogram.stft_frames`.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames16), float32
    sr : int
    n_frames_out : int
    highband : str
        One of :data:`HIGHBANDS`.
    first_frame : int
        Index on the target grid of the first frame wanted (the rest of a
        window's frames are not computed).
    power : numpy.ndarray, shape (n_frames_out, n_fft // 2 + 1), optional
        The mixture's power spectrogram on the target grid (summed over the
        channels), for ``'weighted'``; without it ``'weighted'`` is ``'average'``.

    Returns
    -------
    numpy.ndarray, shape (n_frames_out, n_fft // 2 + 1), float32
        Bins up to the passband edge: the mask, interpolated bilinearly;
        above it (up to ``sr / 2``): the ``highband`` rule's value per frame.
    """
    n_fft, hop = stft_params(sr)
    check_highband(highband)
    if sr == constants.SR and first_frame == 0 and n_frames_out == mask.shape[1]:
        out = mask.T.copy()          # C order; never the caller's array
        if highband != "article":
            fill_frames(out, sr / n_fft, highband, power)
        return out
    bins = n_fft // 2 + 1
    pos = np.arange(bins) * (sr / n_fft) / (constants.SR / constants.N_FFT)  # fractional 16 kHz bin
    n_low = int(np.count_nonzero(pos <= constants.N_BINS))                # a prefix: pos grows
    f0 = np.minimum(np.floor(pos[:n_low]).astype(int), constants.N_BINS - 1)
    ff = (pos[:n_low] - f0).astype(np.float32)
    tpos = (np.arange(first_frame, first_frame + n_frames_out)
            * (hop / sr) / (constants.HOP / constants.SR))
    tpos = np.minimum(tpos, mask.shape[1] - 1)
    t0 = np.minimum(np.floor(tpos).astype(int), max(mask.shape[1] - 2, 0))
    tf = (tpos - t0).astype(np.float32)[:, None]
    t1 = np.minimum(t0 + 1, mask.shape[1] - 1)
    # bilinear: first along time (rows of the frame-major mask), then along
    # frequency (two-tap gathers); no dense interpolation matrix
    mt = np.ascontiguousarray(mask.T)                  # (frames16, 513)
    mtt = mt[t0]
    mtt *= 1 - tf
    mtt += mt[t1] * tf                                 # (n_frames_out, 513)
    if highband != "article":   # so that no bin below the edge interpolates an untrained row
        fill_frames(mtt, constants.SR / constants.N_FFT,
                    "average" if highband == "weighted" else highband)
    out = np.empty((n_frames_out, bins), dtype=np.float32)
    low = out[:, :n_low]
    np.take(mtt, f0, axis=1, out=low)
    low *= 1 - ff
    low += np.take(mtt, f0 + 1, axis=1) * ff
    if highband == "article":                          # the rule before the passband edge
        if n_low < bins:
            out[:, n_low:] = mtt[:, constants.N_BINS // 2:].mean(axis=1, keepdims=True)
    else:
        fill_frames(out, sr / n_fft, highband, power)
    return out


def vocal_mask(mask, cfg):
    """The vocal mask from a model's mask, whatever the model was trained on.

    A model whose settings say ``target: inst`` (or ``accompaniment``)
    selects the accompaniment; its vocal mask is ``1 - mask`` with the DC row
    set to 0 again, so that DC goes to the accompaniment as with a vocal model.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames), float32
        From :func:`compute_mask`.
    cfg : dict
        The model's settings.

    Returns
    -------
    numpy.ndarray, shape (513, frames), float32
    """
    from .model_io import is_inst_model

    if not is_inst_model(cfg):
        return mask
    out = 1.0 - mask
    out[0] = 0.0
    return out


#: The full-rate work on a window (STFT, mask, inverse STFT) is done in
#: blocks of about this many seconds of output, each transformed with one
#: STFT window of context either side, which gives the same samples as the
#: whole window (as in :mod:`unetvocalsep.live`). A 65-second 44.1 kHz stereo
#: window then needs about 8 MB of spectrogram at a time instead of 46 MB.
BLOCK_SECONDS = 10.0


def apply_mask(y, sr, mask, spec=None, highband=DEFAULT_HIGHBAND, hard=False, first_frame=0,
               block_seconds=None, wiener=False):
    """Apply a 16 kHz vocal mask to a window at its own rate.

    The channels are transformed one after another, and with
    ``block_seconds`` the window in blocks, so that only a small part of the
    spectrogram exists at a time; the result is the same as transforming the
    whole window at once.

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples), float32
    sr : int
    mask : numpy.ndarray, shape (513, frames16), float32
    spec : numpy.ndarray, shape (k, frames, bins), complex64, optional
        ``stft_frames(y[:k], *stft_params(sr))`` of the first ``k`` channels
        (``k <= channels``) if already computed (it is overwritten); the other
        channels' are computed here. Not used in blocks.
    highband : str
        The rule above the passband edge, one of :data:`HIGHBANDS`.
    hard : bool
        Binarise the mapped mask (``> 0.5``).
    first_frame : int
        ``y`` starts at this frame of the grid of the window ``mask`` covers
        (``first_frame * hop`` samples in), for a part of a window.
    block_seconds : float or None
        Work in blocks of this length (see :data:`BLOCK_SECONDS`); None: the
        whole window at once.
    wiener : bool
        Refine the vocals with a multichannel Wiener filter
        (:func:`unetvocalsep.wiener.wiener_vocals`) instead of using the mask
        as it is; each block is filtered on its own (flat memory).

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
        ``vocals + accompaniment == y`` (to float32 rounding) with or without
        ``wiener``.
    """
    vocals = vocals_of(y, sr, mask, spec, highband, hard, first_frame, block_seconds, wiener)
    return vocals, y - vocals


def vocals_of(y, sr, mask, spec=None, highband=DEFAULT_HIGHBAND, hard=False, first_frame=0,
              block_seconds=None, wiener=False):
    """The vocal stem of :func:`apply_mask` alone (the accompaniment is ``y`` minus it).

    Parameters and the vocal result are those of :func:`apply_mask`.

    Returns
    -------
    numpy.ndarray, shape (channels, samples), float32
    """
    n_fft, hop = stft_params(sr)
    n = y.shape[-1]
    block = int(round(block_seconds * sr / hop)) * hop if block_seconds else 0
    if spec is not None or block <= 0 or n <= 2 * block:
        return _vocals_whole(y, sr, mask, spec, highband, hard, first_frame, wiener)
    vocals = np.empty(y.shape, np.float32)
    for a in range(0, n, block):
        b = min(a + block, n)
        vocals[:, a:b] = vocals_span(y, sr, mask, a, b, highband, hard, first_frame, wiener)
    return vocals


def vocals_span(y, sr, mask, a, b, highband=DEFAULT_HIGHBAND, hard=False, first_frame=0,
                wiener=False):
    """The vocals of samples ``[a, b)`` of a window, transforming only that stretch.

    The full-rate STFT and its inverse cover ``[a, b)`` and one STFT window
    on either side (on the window's frame grid), which gives the same samples
    as transforming the whole window: the blocks of :func:`vocals_of` and the
    stretch of each :mod:`unetvocalsep.live` run.

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples), float32
        The whole window.
    sr : int
    mask : numpy.ndarray, shape (513, frames16), float32
        The window's 16 kHz mask.
    a, b : int
        ``0 <= a < b <= samples``.
    highband, hard, first_frame, wiener
        As for :func:`apply_mask` (with ``wiener`` the filter's statistics
        are those of the transformed stretch, so blocks are not identical to
        the whole window).

    Returns
    -------
    numpy.ndarray, shape (channels, b - a), float32
    """
    n_fft, hop = stft_params(sr)
    f0 = max((a - n_fft) // hop, 0)
    s0, s1 = f0 * hop, min(-(-(b + n_fft) // hop) * hop, y.shape[-1])
    part = _vocals_whole(y[:, s0:s1], sr, mask, None, highband, hard, first_frame + f0, wiener)
    return part[:, a - s0:b - s0]


def _vocals_whole(y, sr, mask, spec, highband, hard, first_frame, wiener=False):
    """:func:`vocals_of` ``y`` in one piece."""
    n_fft, hop = stft_params(sr)
    specs = [spec[c] if spec is not None and c < spec.shape[0] else stft_frames(y[c], n_fft, hop)
             for c in range(y.shape[0])]
    power = None
    if highband == "weighted":
        power = np.square(np.abs(specs[0]))
        for sc in specs[1:]:
            power += np.square(np.abs(sc))
    m = map_mask_frames(mask, sr, n_frames(y.shape[-1], hop), highband, first_frame, power)
    del power
    if hard:
        m = (m > constants.HARD_MASK_THRESHOLD).astype(np.float32)
    if wiener:
        from .wiener import wiener_vocals

        specs = wiener_vocals(np.stack(specs), m)
        return np.stack([istft_frames(sc, y.shape[-1], hop) for sc in specs]).astype(np.float32)
    vocals = np.empty(y.shape, np.float32)
    for c in range(y.shape[0]):
        sc = specs[c]
        sc *= m
        vocals[c] = istft_frames(sc, y.shape[-1], hop)
        specs[c] = None
    return vocals
