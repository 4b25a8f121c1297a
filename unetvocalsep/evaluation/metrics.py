"""BSS Eval scores as pure functions: v4 per window (museval), v3 NSDR, medians.

``bss_eval_v4`` is museval's SiSEC 2018 metric (SDR, SIR, SAR, ISR in 1 s
windows); ``bss_eval_v3`` and ``nsdr`` are the paper's iKala metric on the
whole track mixed to mono (fast-bss-eval); ``summarise`` gives the median
over tracks and the GNSDR.  docs/EVALUATION.md explains each choice.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = rng.normal(size=(2, 1, 16000))
>>> sdr, sir, sar = bss_eval_v3(ref, ref + 0.01 * rng.normal(size=ref.shape))
>>> bool(sdr.min() > 30)
True
"""
import math

import numpy as np

from .. import constants


#: The two targets, in the order of the BSS Eval sources.
TARGETS = constants.STEMS


#: BSS Eval v4 metrics per window.
METRICS = ("SDR", "SIR", "SAR", "ISR")


def _as_sources(x):
    """(nsrc, samples) or (nsrc, channels, samples) -> float64 (nsrc, channels, samples)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ValueError(f"expected (sources, channels, samples), got shape {x.shape}")
    return x


def fit_length(est, n):
    """Truncate or zero-pad the last axis to ``n`` (museval's pad_or_truncate)."""
    if est.shape[-1] > n:
        return est[..., :n]
    if est.shape[-1] < n:
        pad = [(0, 0)] * (est.ndim - 1) + [(0, n - est.shape[-1])]
        return np.pad(est, pad)
    return est


def _silent(source):
    """museval's test: the channel sum is zero at every sample."""
    return not np.any(np.sum(source, axis=0))


def _dither_silent(est, seed=0):
    """Replace all-zero estimates by -200 dB noise so BSS Eval stays defined (SDR ~ 0 dB)."""
    est = est.copy()
    rng = np.random.default_rng(seed)
    for k in range(est.shape[0]):
        if _silent(est[k]):
            est[k] = 1e-10 * rng.standard_normal(est[k].shape)
    return est


def n_windows(n_samples, win, hop):
    """Number of BSS Eval windows (museval's ``Framing.nwin``).

    Parameters
    ----------
    n_samples, win, hop : int
        Lengths in samples.

    Returns
    -------
    int
    """
    if win < n_samples:
        return int(np.floor((n_samples - win + hop) / hop))
    return 1


def bss_eval_v4(references, estimates, sr, win=1.0, hop=1.0):
    """BSS Eval v4 image metrics per window, as museval computes them for SiSEC 2018.

    Calls :func:`museval.metrics.bss_eval` with ``framewise_filters=False``
    (one set of 512-tap distortion filters for the whole signal),
    ``bsseval_sources_version=False`` and no permutation, after museval's
    ``pad_or_truncate`` of the estimates.

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples) or (sources, samples)
        True sources and their estimates, in the same order.
    sr : int
    win, hop : float
        Window length and hop in seconds.

    Returns
    -------
    dict
        ``'SDR', 'SIR', 'SAR', 'ISR'``: numpy.ndarray, shape (sources, windows),
        in dB; NaN where a window's reference or estimate is silent, where a
        value is infinite (museval writes those as NaN), and for every window
        of a source whose reference is silent over the whole signal (the
        other sources are then evaluated without it). ``'time'``: shape
        (windows,), window starts in seconds; ``'duration'``: ``win``.
    """
    import museval.metrics

    ref = _as_sources(references)
    est = fit_length(_as_sources(estimates), ref.shape[-1])
    if est.shape[:2] != ref.shape[:2]:
        raise ValueError(f"estimates {est.shape} do not match references {ref.shape}")
    win_s, hop_s = int(win * sr), int(hop * sr)
    nwin = n_windows(ref.shape[-1], win_s, hop_s)
    out = {m: np.full((ref.shape[0], nwin), np.nan) for m in METRICS}
    keep = [j for j in range(ref.shape[0]) if not _silent(ref[j])]
    if keep:
        r = np.ascontiguousarray(ref[keep].transpose(0, 2, 1))
        e = np.ascontiguousarray(_dither_silent(est[keep]).transpose(0, 2, 1))
        sdr, isr, sir, sar, _ = museval.metrics.bss_eval(
            r, e, compute_permutation=False, window=win_s, hop=hop_s,
            framewise_filters=False, bsseval_sources_version=False)
        for name, value in zip(("SDR", "ISR", "SIR", "SAR"), (sdr, isr, sir, sar)):
            value = np.asarray(value, dtype=np.float64)
            out[name][keep] = np.where(np.isfinite(value), value, np.nan)
    out["time"] = np.arange(nwin) * float(hop)
    out["duration"] = float(win)
    return out


def nanmedian(x, axis=None):
    """Median ignoring NaN; NaN (without a warning) where everything is NaN.

    Parameters
    ----------
    x : array_like
    axis : int or None

    Returns
    -------
    float or numpy.ndarray
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.asarray(x, dtype=np.float64), axis=axis)


def bss_eval_v3(references, estimates):
    """Whole-signal BSS Eval v3 ``bss_eval_sources`` on mono signals (fast-bss-eval, numpy).

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples) or (sources, samples)
        Mixed to mono (mean over channels) first; estimates are truncated or
        zero-padded to the references' length.

    Returns
    -------
    sdr, sir, sar : numpy.ndarray, shape (sources,)
        In dB, 512-tap distortion filters, no permutation. NaN for a source
        whose reference is silent (the others are evaluated without it).
    """
    import fast_bss_eval

    from .._compat import fast_bss_eval_numpy2_fix

    fast_bss_eval_numpy2_fix()
    ref = _as_sources(references).mean(axis=1)
    est = fit_length(_as_sources(estimates).mean(axis=1), ref.shape[-1])
    out = [np.full(ref.shape[0], np.nan) for _ in range(3)]
    keep = [j for j in range(ref.shape[0]) if np.any(ref[j])]
    if keep:
        e = _dither_silent(est[keep][:, None, :])[:, 0, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            res = fast_bss_eval.bss_eval_sources(ref[keep], e, filter_length=512,
                                                 compute_permutation=False)
        for o, v in zip(out, res[:3]):
            v = np.asarray(v, dtype=np.float64)
            o[keep] = np.where(np.isfinite(v), v, np.nan)
    return tuple(out)


def nsdr(references, estimates, mixture, mixture_sdr=None):
    """Normalised SDR: ``SDR(estimate) - SDR(mixture)`` per source (see :func:`bss_eval_v3`).

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples)
    mixture : numpy.ndarray, shape (channels, samples)
    mixture_sdr : numpy.ndarray, shape (sources,), or None
        ``bss_eval_v3(references, [mixture] * sources)[0]`` when already known.

    Returns
    -------
    nsdr : numpy.ndarray, shape (sources,)
    sdr : numpy.ndarray, shape (sources,)
        The estimates' whole-signal v3 SDR.
    mixture_sdr : numpy.ndarray, shape (sources,)
    """
    ref = _as_sources(references)
    if mixture_sdr is None:
        mix = np.broadcast_to(_as_sources(np.asarray(mixture)[None])[0], ref.shape)
        mixture_sdr = bss_eval_v3(ref, mix)[0]
    sdr = bss_eval_v3(ref, estimates)[0]
    return sdr - mixture_sdr, sdr, mixture_sdr


def energy_db(estimate, mixture):
    """Energy of an estimate relative to the mixture's, in dB.

    For a track whose vocal reference is silent (an instrumental), the vocal
    estimate's figure is the *leakage*: how much of the music the separator
    calls voice (lower is better; an empty estimate gives -inf, reported as
    -200 dB).

    Parameters
    ----------
    estimate, mixture : numpy.ndarray
        Any shape, same number of samples (the estimate is cut or padded).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones(100)
    >>> round(energy_db(0.1 * x, x), 1)
    -20.0
    """
    mix = np.asarray(mixture, dtype=np.float64)
    est = fit_length(np.atleast_2d(np.asarray(estimate, dtype=np.float64)), mix.shape[-1])
    e_m = float(np.sum(mix ** 2))
    e_e = float(np.sum(est ** 2))
    if e_m <= 0:
        return float("nan")
    return float(max(10 * np.log10(e_e / e_m), -200.0)) if e_e > 0 else -200.0


def finite_or_nan(x):
    """``float(x)``, or NaN for an infinite value (museval writes both as NaN)."""
    x = float(x)
    return x if math.isfinite(x) else float("nan")
