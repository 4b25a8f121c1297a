"""Reference separations that the U-Net is compared with in :mod:`unetvocalsep.evaluate`.

Every function returns ``(vocals, accompaniment)`` as float32 arrays shaped
``(channels, samples)`` like its input, so that the evaluation scores them
with exactly the same code as the model's output.

- :func:`ideal_ratio_mask` -- the oracle soft mask ``|V| / (|V| + |A|)``
  (``power=1``, the default) or ``|V|**2 / (|V|**2 + |A|**2)`` (``power=2``).
- :func:`irm16_separate` -- that mask computed on the model's own 16 kHz
  mono grid (STFT 1024 / 512, DC bin 0) and applied exactly like the
  network's mask: on the 16 kHz grid, or mapped to the input rate by
  :func:`unetvocalsep.masking.map_mask`. It is the ceiling of this model:
  the best a perfect network could output.
- :func:`irm_full_separate` -- the oracle mask on each channel's full-band
  STFT at the original rate (same time span per frame as the model).
- :func:`repet_sim` -- REPET-SIM (Rafii & Pardo 2012) as in librosa's gallery
  example "Vocal separation": cosine nearest-neighbour median filter over 2 s,
  soft masks with margins 2 (background) and 10 (foreground), power 2.
- :func:`mixture_estimate` -- the mixture itself for both stems (the floor;
  its SDR is what NSDR subtracts).
"""
import numpy as np

from ..highband import DEFAULT_HIGHBAND
from ..resampling import resample, to_mono, to_mono16
from ..spectrogram import istft, n_frames, stft



def ideal_ratio_mask(vocals_spec, accompaniment_spec, power=1):
    """Oracle vocal mask from the true stems' spectrograms.

    Parameters
    ----------
    vocals_spec, accompaniment_spec : numpy.ndarray, shape (..., bins, frames)
        Complex (or magnitude) STFTs of the two references on one grid.
    power : {1, 2}
        1: ``|V| / (|V| + |A|)``; 2: ``|V|**2 / (|V|**2 + |A|**2)``.

    Returns
    -------
    numpy.ndarray, shape (..., bins, frames), float32
        In [0, 1]; 0 where both stems are silent. The accompaniment mask is
        ``1 - mask``, as for the network.
    """
    v = np.abs(vocals_spec).astype(np.float64) ** power
    a = np.abs(accompaniment_spec).astype(np.float64) ** power
    den = v + a
    mask = np.zeros(den.shape, dtype=np.float64)
    np.divide(v, den, out=mask, where=den > 0)
    return mask.astype(np.float32)


def _apply_mask(y, mask, hop):
    """vocals = STFT(y)·mask, accompaniment = STFT(y)·(1 − mask), mixture phase."""
    n_fft = 2 * (mask.shape[-2] - 1)
    spec = stft(y, n_fft, hop)
    vocals = istft(spec * mask, y.shape[-1], hop)
    accompaniment = istft(spec * (1.0 - mask), y.shape[-1], hop)
    return vocals, accompaniment


def irm16_mask(vocals, accompaniment, sr, power=1):
    """The oracle mask on the model's grid: 16 kHz mono, STFT 1024 / 512, DC row 0.

    Parameters
    ----------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples)
        True stems at rate ``sr``; mixed to mono and resampled to 16 kHz.
    sr : int
    power : {1, 2}

    Returns
    -------
    numpy.ndarray, shape (513, frames16), float32
        Same shape and meaning as :meth:`Separator.mask16` (the network's mask).
    """
    mask = ideal_ratio_mask(stft(to_mono16(vocals, sr)[0]), stft(to_mono16(accompaniment, sr)[0]), power)
    mask[0] = 0.0   # the network never sees the DC bin and gives it mask 0
    return mask


def irm16_separate(mixture, vocals, accompaniment, sr, out_sr=None, mono=False,
                   highband=None, power=1):
    """Separate with the 16 kHz oracle mask, along the network's own path.

    Parameters
    ----------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples)
        At rate ``sr``.
    sr : int
    out_sr : int or None
        Output rate (the input's when ``None``). With ``out_sr=16000,
        mono=True`` the mask is applied to the 16 kHz mono mixture; otherwise
        it is mapped onto each channel's STFT at ``out_sr`` with
        :func:`~unetvocalsep.masking.map_mask`, as
        :meth:`Separator.separate` does with the network's mask.
    mono : bool
        Mix the mixture down to one channel first.
    highband : str or None
        Mask above the passband edge and 8 kHz, one of
        :data:`~unetvocalsep.highband.HIGHBANDS` (see
        :func:`~unetvocalsep.highband.fill_highband`); None: the separator's
        default, so that the oracle goes the network's way.
    power : {1, 2}

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples_out), float32
    """
    from ..masking import map_mask, stft_params
    highband = DEFAULT_HIGHBAND if highband is None else highband
    mask = irm16_mask(vocals, accompaniment, sr, power)
    x = np.atleast_2d(np.asarray(mixture, dtype=np.float32))
    if mono:
        x = to_mono(x)
    if out_sr and out_sr != sr:
        x = resample(x, sr, out_sr)
        sr = out_sr
    n_fft, hop = stft_params(sr)
    m = map_mask(mask, sr, n_frames(x.shape[-1], hop), highband)
    return _apply_mask(x, m, hop)


def irm_full_separate(mixture, vocals, accompaniment, sr, power=1):
    """Separate each channel with the oracle mask of its own full-band STFT.

    The grid is :func:`~unetvocalsep.masking.stft_params` at ``sr``: the same
    time span per frame as the model's 1024 / 512 at 16 kHz.

    Parameters
    ----------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples)
    sr : int
    power : {1, 2}

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
    """
    from ..masking import stft_params
    n_fft, hop = stft_params(sr)
    mask = ideal_ratio_mask(stft(vocals, n_fft, hop), stft(accompaniment, n_fft, hop), power)
    return _apply_mask(np.atleast_2d(np.asarray(mixture, dtype=np.float32)), mask, hop)


def repet_sim(mixture, sr, width_seconds=2.0, margin_i=2.0, margin_v=10.0, power=2,
              n_fft=None, hop_length=None):
    """REPET-SIM as in librosa's gallery example "Vocal separation", channel by channel.

    For each channel: ``S, phase = magphase(stft(y))``; the repeating
    background is the median of the frames most similar to each frame
    (``nn_filter(S, aggregate=np.median, metric='cosine', width=2 s)``),
    limited to ``S``; the soft masks are
    ``softmask(S_filter, margin_i * (S - S_filter), power)`` for the
    accompaniment and ``softmask(S - S_filter, margin_v * S_filter, power)``
    for the vocals; both are applied to ``S`` and inverted with the mixture
    phase. (The two masks do not add up to one, as in the example.)

    Parameters
    ----------
    mixture : numpy.ndarray, shape (channels, samples) or (samples,)
    sr : int
    width_seconds : float
        Frames closer in time than this are not used as neighbours.
    margin_i, margin_v : float
        Margins of the background and foreground masks.
    power : float
        Exponent of :func:`librosa.util.softmask`.
    n_fft, hop_length : int or None
        Default: the example's 2048 / 512 at 22050 Hz, scaled to ``sr`` so the
        time span per frame is the same (``hop = round(512 * sr / 22050)``,
        ``n_fft = 4 * hop``).

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape like ``mixture``, float32
    """
    import librosa

    x = np.asarray(mixture, dtype=np.float32)
    one_d = x.ndim == 1
    x = np.atleast_2d(x)
    if hop_length is None:
        hop_length = max(1, int(round(512 * sr / 22050)))
    if n_fft is None:
        n_fft = 4 * hop_length
    width = int(librosa.time_to_frames(width_seconds, sr=sr, hop_length=hop_length))
    vocals, accompaniment = [], []
    for y in x:
        spec = librosa.stft(y, n_fft=n_fft, hop_length=hop_length)
        s_full, phase = librosa.magphase(spec)
        # nn_filter needs more than 2 * width + 1 frames (short inputs: a narrower width)
        width_c = max(1, min(width, (s_full.shape[1] - 1) // 2 - 1))
        s_filter = librosa.decompose.nn_filter(s_full, aggregate=np.median, metric="cosine",
                                               width=width_c)
        s_filter = np.minimum(s_full, s_filter)
        mask_i = librosa.util.softmask(s_filter, margin_i * (s_full - s_filter), power=power)
        mask_v = librosa.util.softmask(s_full - s_filter, margin_v * s_filter, power=power)
        vocals.append(librosa.istft(mask_v * s_full * phase, hop_length=hop_length,
                                    n_fft=n_fft, length=len(y)))
        accompaniment.append(librosa.istft(mask_i * s_full * phase, hop_length=hop_length,
                                           n_fft=n_fft, length=len(y)))
    v = np.asarray(vocals, dtype=np.float32)
    a = np.asarray(accompaniment, dtype=np.float32)
    return (v[0], a[0]) if one_d else (v, a)


def mixture_estimate(mixture):
    """The mixture as the estimate of both stems.

    Parameters
    ----------
    mixture : numpy.ndarray, shape (channels, samples)

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
        Two copies of ``mixture``.
    """
    x = np.asarray(mixture, dtype=np.float32)
    return x.copy(), x.copy()
