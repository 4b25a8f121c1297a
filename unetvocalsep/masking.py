"""The mask: from the network at 16 kHz to the stems at the input's own rate.

For one window of audio at rate ``sr``:

1. :func:`compute_mask`: the U-Net's mask of the normalised 16 kHz magnitude
   (bins 1..512; the DC row is 0), the article's ``ComputeMask``;
2. :func:`map_mask_frames`: that mask mapped onto the STFT grid of ``sr``
   (:func:`stft_params`), bilinearly in time and frequency; above 8 kHz the
   4-8 kHz mean (``highband='average'``) or 0 (``'zero'``);
3. :func:`apply_mask`: vocals = STFT · mask with the mixture phase, inverted;
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

#: What the mask is above 8 kHz, where the model sees nothing.
HIGHBANDS = ("average", "zero")


def compute_mask(net, mag, hard=False, device=None, plan=None):
    """The mask of the article's ``ComputeMask``.

    Parameters
    ----------
    net : callable or UNet
        A network from :func:`unetvocalsep.model_io.load_network` (``net(x)``
        maps a (1, 1, 512, frames) input to its mask), or a chainer
        :class:`~unetvocalsep.network.UNet`: on the CPU with the fast path on
        (:mod:`unetvocalsep.fastpath`) it runs through its cached
        :class:`~unetvocalsep.inference.InferencePlan`, otherwise through
        ``unet(x)`` in chainer's test mode. Both give the same mask to float32
        rounding. May be None when ``plan`` is given.
    mag : numpy.ndarray, shape (513, frames), float32
        Normalised magnitude (divided by its maximum).
    hard : bool
        Return the binary mask ``mask > 0.5``.
    device : chainer.backend.Device or None
        Device of a ``UNet``; the CPU when ``None``.
    plan : unetvocalsep.inference.InferencePlan or None
        A prepared CPU forward pass to use instead of ``net``.

    Returns
    -------
    numpy.ndarray, shape (513, frames), float32
        The DC row is 0.
    """
    t = mag.shape[1]
    padded_t = max(constants.TIME_MULTIPLE, -(-t // constants.TIME_MULTIPLE) * constants.TIME_MULTIPLE)
    x = np.zeros((1, 1, constants.N_BINS, padded_t), dtype=np.float32)
    x[0, 0, :, :t] = mag[1:, :]
    if plan is None and not hasattr(net, "namedparams"):   # a load_network() network
        plan = net
    if plan is None and (device is None or device.xp is np):
        from .inference import plan_for

        plan = plan_for(net)
    if plan is not None:
        m = plan(x)[0, 0, :, :t]
    else:
        from .model_io import chainer_forward

        m = chainer_forward(net, x, device)[0, 0, :, :t]
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


def map_mask(mask, sr, n_frames_out, highband="average"):
    """Map a 16 kHz mask onto the STFT grid of rate ``sr``.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames16), float32
    sr : int
        Target rate; its grid is given by :func:`stft_params`.
    n_frames_out : int
        Number of frames of the target STFT.
    highband : {'average', 'zero'}
        Mask above 8 kHz: the frame's mean over 4-8 kHz, or 0.

    Returns
    -------
    numpy.ndarray, shape (n_fft // 2 + 1, n_frames_out), float32
        A transposed view of a frame-major array (see :func:`map_mask_frames`).
    """
    return map_mask_frames(mask, sr, n_frames_out, highband).T


def map_mask_frames(mask, sr, n_frames_out, highband="average", first_frame=0):
    """:func:`map_mask` in frame-major order, for :func:`~unetvocalsep.spectrogram.stft_frames`.

    Parameters
    ----------
    mask : numpy.ndarray, shape (513, frames16), float32
    sr : int
    n_frames_out : int
    highband : {'average', 'zero'}
    first_frame : int
        Index on the target grid of the first frame wanted (the rest of a
        window's frames are not computed).

    Returns
    -------
    numpy.ndarray, shape (n_frames_out, n_fft // 2 + 1), float32
    """
    n_fft, hop = stft_params(sr)
    if sr == constants.SR and first_frame == 0 and n_frames_out == mask.shape[1]:
        return np.ascontiguousarray(mask.T)
    if highband not in HIGHBANDS:
        raise UserError(f"unknown highband policy {highband!r} (average or zero)")
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
    out = np.empty((n_frames_out, bins), dtype=np.float32)
    low = out[:, :n_low]
    np.take(mtt, f0, axis=1, out=low)
    low *= 1 - ff
    low += np.take(mtt, f0 + 1, axis=1) * ff
    if n_low < bins:
        if highband == "average":
            top = constants.N_BINS // 2
            out[:, n_low:] = mtt[:, top:].mean(axis=1, keepdims=True)
        else:
            out[:, n_low:] = 0
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


def apply_mask(y, sr, mask, spec=None, highband="average", hard=False, first_frame=0,
               block_seconds=None):
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
    highband : {'average', 'zero'}
    hard : bool
        Binarise the mapped mask (``> 0.5``).
    first_frame : int
        ``y`` starts at this frame of the grid of the window ``mask`` covers
        (``first_frame * hop`` samples in), for a part of a window.
    block_seconds : float or None
        Work in blocks of this length (see :data:`BLOCK_SECONDS`); None: the
        whole window at once.

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
    """
    vocals = vocals_of(y, sr, mask, spec, highband, hard, first_frame, block_seconds)
    return vocals, y - vocals


def vocals_of(y, sr, mask, spec=None, highband="average", hard=False, first_frame=0,
              block_seconds=None):
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
        return _vocals_whole(y, sr, mask, spec, highband, hard, first_frame)
    vocals = np.empty(y.shape, np.float32)
    for a in range(0, n, block):
        b = min(a + block, n)
        vocals[:, a:b] = vocals_span(y, sr, mask, a, b, highband, hard, first_frame)
    return vocals


def vocals_span(y, sr, mask, a, b, highband="average", hard=False, first_frame=0):
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
    highband, hard, first_frame
        As for :func:`apply_mask`.

    Returns
    -------
    numpy.ndarray, shape (channels, b - a), float32
    """
    n_fft, hop = stft_params(sr)
    f0 = max((a - n_fft) // hop, 0)
    s0, s1 = f0 * hop, min(-(-(b + n_fft) // hop) * hop, y.shape[-1])
    part = _vocals_whole(y[:, s0:s1], sr, mask, None, highband, hard, first_frame + f0)
    return part[:, a - s0:b - s0]


def _vocals_whole(y, sr, mask, spec, highband, hard, first_frame):
    """:func:`vocals_of` ``y`` in one piece, one channel at a time."""
    from .spectrogram import istft_frames, n_frames, stft_frames

    n_fft, hop = stft_params(sr)
    m = map_mask_frames(mask, sr, n_frames(y.shape[-1], hop), highband, first_frame)
    if hard:
        m = (m > constants.HARD_MASK_THRESHOLD).astype(np.float32)
    vocals = np.empty(y.shape, np.float32)
    for c in range(y.shape[0]):
        if spec is not None and c < spec.shape[0]:
            sc = spec[c]
        else:
            sc = stft_frames(y[c], n_fft, hop)
        sc *= m
        vocals[c] = istft_frames(sc, y.shape[-1], hop)
        del sc
    return vocals
