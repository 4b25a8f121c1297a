"""Vocal production and mastering for the real-music corpus (mono, any rate).

The vocal chain is EQ, compression, saturation and reverb, each drawn with
a random amount by :func:`vocal_chain`.  The master is a look-ahead peak
limiter whose gain curve is computed from the mixture and applied to both
stems, so ``mixture == vocals + accompaniment`` still holds exactly.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.synth import production
>>> rng = np.random.default_rng(0)
>>> v = rng.normal(0, 0.1, 16000)
>>> wet, settings = production.vocal_chain(v, 16000, rng)
>>> wet.shape, sorted(settings)
((16000,), ['comp', 'eq', 'reverb', 'saturation'])
>>> g = production.limiter_gain(np.r_[np.zeros(100), 2.0, np.zeros(100)], 16000, -1.0)
>>> bool(g.min() * 2.0 <= 10 ** (-1 / 20) + 1e-9)
True
"""
import numpy as np


def _biquad(kind, f0, sr, gain_db=0.0, q=0.707):
    """RBJ audio-EQ-cookbook biquad as second-order sections (1, 6)."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * min(f0, 0.45 * sr) / sr
    c, s = np.cos(w0), np.sin(w0)
    alpha = s / (2 * q)
    if kind == "highpass":
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
        a = [1 + alpha, -2 * c, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * a_, -2 * c, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * c, 1 - alpha / a_]
    elif kind == "highshelf":
        sq = 2 * np.sqrt(a_) * alpha
        b = [a_ * ((a_ + 1) + (a_ - 1) * c + sq), -2 * a_ * ((a_ - 1) + (a_ + 1) * c),
             a_ * ((a_ + 1) + (a_ - 1) * c - sq)]
        a = [(a_ + 1) - (a_ - 1) * c + sq, 2 * ((a_ - 1) - (a_ + 1) * c),
             (a_ + 1) - (a_ - 1) * c - sq]
    else:
        raise ValueError(kind)
    b, a = np.asarray(b) / a[0], np.asarray(a) / a[0]
    return np.concatenate([b, a])[None, :]


def eq(x, sr, highpass_hz, peak_hz, peak_db, peak_q, shelf_hz, shelf_db):
    """High-pass, one peaking band and a high shelf.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    sr : int
    highpass_hz, peak_hz, shelf_hz : float
    peak_db, shelf_db : float
    peak_q : float

    Returns
    -------
    numpy.ndarray, shape (n,), float64
    """
    from scipy.signal import sosfilt
    sos = np.concatenate([_biquad("highpass", highpass_hz, sr),
                          _biquad("peak", peak_hz, sr, peak_db, peak_q),
                          _biquad("highshelf", shelf_hz, sr, shelf_db)])
    return sosfilt(sos, x)


def _smooth(env, sr, seconds):
    """One-pole smoothing (time constant ``seconds``)."""
    from scipy.signal import lfilter
    a = np.exp(-1.0 / max(seconds * sr, 1.0))
    return lfilter([1 - a], [1, -a], env)


def compress(x, sr, threshold_db, ratio, attack=0.005, release=0.12, makeup=True):
    """Feed-forward RMS compressor.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    sr : int
    threshold_db : float
        Relative to the signal's own peak RMS level.
    ratio : float
        >= 1.
    attack, release : float
        Seconds; the level detector uses the attack, the gain curve the release.
    makeup : bool
        Restore the input's RMS.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
    """
    level = np.sqrt(_smooth(x * x, sr, attack) + 1e-12)
    ref = level.max()
    if ref <= 1e-6:
        return np.array(x, dtype=np.float64)
    over = 20 * np.log10(level / ref) - threshold_db
    gain_db = -np.maximum(over, 0.0) * (1 - 1 / ratio)
    gain = _smooth(10 ** (gain_db / 20), sr, release)
    y = x * gain
    if makeup:
        ry = np.sqrt(np.mean(y * y))
        if ry > 0:
            y *= np.sqrt(np.mean(x * x)) / ry
    return y


def saturate(x, drive_db, mix=1.0):
    """Soft clipping (tanh) with a dry/wet mix, at the input's peak level.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    drive_db : float
        Gain into the tanh, relative to the signal's peak.
    mix : float
        0 (dry) to 1 (wet).

    Returns
    -------
    numpy.ndarray, shape (n,), float64
    """
    peak = np.abs(x).max()
    if peak == 0:
        return np.array(x, dtype=np.float64)
    g = 10 ** (drive_db / 20) / peak
    wet = np.tanh(g * x) / np.tanh(g * peak) * peak
    return (1 - mix) * x + mix * wet


def room(rng, sr, rt60, seconds_max=2.5):
    """A mono synthetic room: exponentially decaying, darkened noise of unit energy.

    Parameters
    ----------
    rng : numpy.random.Generator
    sr : int
    rt60 : float
        Decay to -60 dB (s).
    seconds_max : float

    Returns
    -------
    numpy.ndarray, shape (m,)
    """
    from scipy.signal import lfilter
    n = int(min(rt60 * 1.2, seconds_max) * sr)
    t = np.arange(n) / sr
    ir = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    ir = np.concatenate([np.zeros(int(rng.uniform(0.005, 0.04) * sr)), ir])
    a = rng.uniform(0.2, 0.7)
    ir = lfilter([1 - a], [1, -a], ir)
    return ir / np.sqrt(np.sum(ir * ir))


def reverb(x, ir, wet):
    """Mix ``x`` with its convolution by ``ir`` (same length as ``x``).

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    ir : numpy.ndarray, shape (m,)
    wet : float
        0 to 1.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
    """
    from scipy.signal import fftconvolve
    r = fftconvolve(x, ir)[:len(x)]
    return (1 - wet) * x + wet * r


def vocal_chain(x, sr, rng):
    """Random vocal production: EQ, compression, saturation, reverb.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
        Dry vocals.
    sr : int
    rng : numpy.random.Generator

    Returns
    -------
    y : numpy.ndarray, shape (n,), float64
    settings : dict
        What was applied (JSON-serialisable).
    """
    s = {
        "eq": {"highpass_hz": float(rng.uniform(60, 200)),
               "peak_hz": float(np.exp(rng.uniform(np.log(250), np.log(5000)))),
               "peak_db": float(rng.uniform(-6, 6)), "peak_q": float(rng.uniform(0.5, 2.0)),
               "shelf_hz": float(rng.uniform(2500, 6000)), "shelf_db": float(rng.uniform(-6, 6))},
        "comp": {"threshold_db": float(rng.uniform(-24, -3)), "ratio": float(rng.uniform(1, 8)),
                 "attack": float(rng.uniform(0.002, 0.02)),
                 "release": float(rng.uniform(0.05, 0.3))},
        "saturation": {"drive_db": float(rng.uniform(0, 12)),
                       "mix": float(rng.uniform(0, 0.6) if rng.random() < 0.5 else 0.0)},
        "reverb": {"rt60": float(rng.uniform(0.2, 2.5)), "wet": float(rng.uniform(0.0, 0.4))},
    }
    y = eq(x, sr, **s["eq"])
    y = compress(y, sr, **s["comp"])
    if s["saturation"]["mix"] > 0:
        y = saturate(y, **s["saturation"])
    if s["reverb"]["wet"] > 0:
        y = reverb(y, room(rng, sr, s["reverb"]["rt60"]), s["reverb"]["wet"])
    return y, s


def limiter_gain(mix, sr, ceiling_db=-1.0, lookahead=0.005, release=0.08):
    """Gain curve of a look-ahead brick-wall limiter, never above what a peak needs.

    ``gain * mix`` stays within ``ceiling_db`` everywhere.  The needed gain is
    spread over ``lookahead`` around each peak (a maximum filter of the gain
    reduction, then a moving average over half that span, which cannot fall
    below it), and then recovers with a release that may only lower the gain.

    Parameters
    ----------
    mix : numpy.ndarray, shape (n,) or (channels, n)
    sr : int
    ceiling_db : float
    lookahead, release : float
        Seconds.

    Returns
    -------
    numpy.ndarray, shape (n,)
        Gains in (0, 1].
    """
    from scipy.ndimage import maximum_filter1d, uniform_filter1d
    peak = np.abs(np.atleast_2d(mix)).max(axis=0)
    ceiling = 10 ** (ceiling_db / 20)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return np.ones_like(need)
    # Work on the gain reduction 1 - gain, which is 0 where nothing is needed.
    la = max(int(lookahead * sr), 1)
    cut = maximum_filter1d(1.0 - need, size=2 * la + 1, mode="nearest")
    cut = uniform_filter1d(cut, size=la | 1, mode="nearest")
    hold = max(int(release * sr), 1) | 1
    rel = uniform_filter1d(maximum_filter1d(cut, size=hold, mode="nearest"),
                           size=(hold // 2) | 1, mode="nearest")
    red = np.maximum(rel, cut)
    red[red < 1e-9] = 0.0        # running sums leave 1e-14 residues far from any peak
    return np.minimum(1.0 - red, need)
