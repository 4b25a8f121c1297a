"""Song + instrumental pairs: alignment, gain, the same-recording check and training targets.

A *pair* is a song and the instrumental version of the same recording (a CD
single's instrumental, a karaoke release, a band's own mix without the
vocal). The paper trained on about 20,000 of them. :func:`load_pair` finds
the instrumental's offset (cross-correlation at 16 kHz, refined to the
sample at the file's own rate) and gain (least squares), refuses two files
that are not the same recording, trims the silence at both ends (as the
article does), and returns what training needs.

Two vocal targets are offered (:data:`TARGET_RULES`):

``'difference'`` (the default)
    the vocals as the time-domain residual ``song - gain * instrumental``;
    exact when the instrumental is the same master;
``'article'``
    the article's rule on magnitudes, ``max(0, |song| - gain * |instrumental|)``.

``docs/FINETUNE.md`` gives the measurement behind the default.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.training.pairs import estimate_gain
>>> inst = np.random.default_rng(0).standard_normal(1000)
>>> round(estimate_gain(0.8 * inst + 0.01, inst), 2)
0.8
"""
import hashlib
import os

import numpy as np

from .. import constants
from ..audio import load_audio
from ..errors import UserError
from ..resampling import resample, to_mono16
from ..spectrogram import normalise, spectrogram

#: The vocal targets :func:`load_pair` can build.
TARGET_RULES = ("difference", "article")
#: Largest offset searched between a song and its instrumental, seconds.
MAX_OFFSET_S = 10.0
#: Refused below this correlation between the song and the aligned, scaled instrumental.
#: A true pair has ``sqrt(E_inst / E_song)``: 0.45 even with vocals as loud as the
#: band (the test songs), 0.7-0.95 for produced music; two different songs stay
#: under 0.1.
MIN_CORRELATION = 0.25
#: Frames quieter than this (dB below the song's peak frame) at either end are trimmed.
SILENCE_DB = -60.0


class PairError(UserError):
    """The two files of a pair cannot be used together (named in the message)."""


#: A vocal residual below this (dB against the song) means the two files are
#: the same audio: nothing to learn, and NaN metrics if it were accepted.
MIN_RESIDUAL_DB = -60.0


def sha256(path, block=1 << 20):
    """The hex SHA-256 of a file (recorded with a fine-tuned model).

    Parameters
    ----------
    path : str

    Returns
    -------
    str
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def find_offset(mixture, instrumental, max_lag):
    """The lag that best aligns an instrumental with its song (FFT cross-correlation).

    Parameters
    ----------
    mixture, instrumental : numpy.ndarray, shape (samples,)
        Mono signals at one sample rate.
    max_lag : int
        Search ``-max_lag .. max_lag`` samples.

    Returns
    -------
    int
        ``lag`` such that ``mixture[n] ~ instrumental[n - lag]``: positive
        when the song starts later than the instrumental.
    """
    from scipy.signal import fftconvolve

    a = np.asarray(mixture, dtype=np.float64)
    b = np.asarray(instrumental, dtype=np.float64)
    corr = fftconvolve(a, b[::-1], mode="full")  # corr[k + len(b) - 1] = sum a[n + k] b[n]
    zero = len(b) - 1
    lo, hi = max(0, zero - max_lag), min(len(corr), zero + max_lag + 1)
    return int(np.argmax(corr[lo:hi])) + lo - zero


def find_lag(song, instrumental, sr, max_offset_s=MAX_OFFSET_S):
    """The lag of an instrumental against its song, to the sample at ``sr``.

    A cross-correlation of the 16 kHz mono signals finds the lag to within a
    16 kHz sample; a second one at ``sr``, over a few samples around it,
    makes it exact.

    Parameters
    ----------
    song, instrumental : numpy.ndarray, shape (samples,)
        Mono, at rate ``sr``.
    sr : int
    max_offset_s : float

    Returns
    -------
    int
        ``lag`` at ``sr`` such that ``song[n] ~ instrumental[n - lag]``:
        positive when the song starts later.
    """
    s16 = resample(song, sr, constants.SR)
    i16 = resample(instrumental, sr, constants.SR)
    coarse = find_offset(s16, i16, int(round(max_offset_s * constants.SR)))
    if sr == constants.SR:
        return coarse
    centre = int(round(coarse * sr / constants.SR))
    reach = int(np.ceil(sr / constants.SR)) + 2
    # correlate a stretch of up to 20 s from the middle of the overlap at each lag nearby
    n = min(len(song), len(instrumental)) - abs(centre) - 2 * reach
    if n < sr // 10:
        return centre
    seg = min(n, 20 * sr)
    start = max(0, centre) + reach + (n - seg) // 2
    a = np.asarray(song[start:start + seg], dtype=np.float64)
    best, best_lag = -np.inf, centre
    for lag in range(centre - reach, centre + reach + 1):
        b = np.asarray(instrumental[start - lag:start - lag + seg], dtype=np.float64)
        if len(b) < seg:
            continue
        c = float(a @ b)
        if c > best:
            best, best_lag = c, lag
    return best_lag


def estimate_gain(song, instrumental):
    """The least-squares gain ``g`` that makes ``g * instrumental`` closest to ``song``.

    Parameters
    ----------
    song, instrumental : numpy.ndarray
        Aligned, same shape.

    Returns
    -------
    float
    """
    a = np.asarray(song, dtype=np.float64).ravel()
    b = np.asarray(instrumental, dtype=np.float64).ravel()
    den = float(b @ b)
    return float(a @ b) / den if den > 0 else 0.0


def _trim_bounds(y, sr):
    """First and last sample of the non-silent part (50 ms frames, :data:`SILENCE_DB`)."""
    hop = max(1, sr // 20)
    n = y.shape[-1] // hop
    if n == 0:
        return 0, y.shape[-1]
    e = (y[..., :n * hop].reshape(-1, n, hop) ** 2).mean(axis=(0, 2))
    loud = np.flatnonzero(e > e.max() * 10 ** (SILENCE_DB / 10))
    if not len(loud):
        return 0, 0
    return int(loud[0] * hop), int(min(y.shape[-1], (loud[-1] + 1) * hop))


def load_pair(song_path, instrumental_path, max_offset_s=MAX_OFFSET_S):
    """Load, align, scale, check and trim a song and its instrumental.

    Parameters
    ----------
    song_path, instrumental_path : str
    max_offset_s : float

    Returns
    -------
    dict
        ``song``, ``instrumental`` (the scaled one), ``vocals`` (the residual):
        numpy.ndarray, shape (channels, samples), float32, aligned and
        trimmed; ``sr``; ``offset_samples`` / ``offset_s`` (as :func:`find_lag`),
        ``gain``, ``correlation``, ``residual_db`` (vocal residual against the
        song), ``trimmed_s`` (start, end), ``name``.

    Raises
    ------
    PairError
        Different rates that cannot be compared, too short an overlap, or two
        files that are not the same recording.
    """
    name = os.path.splitext(os.path.basename(os.fspath(song_path)))[0]
    what = f"pair {name} ({song_path} + {instrumental_path})"
    song, sr = load_audio(song_path)
    inst, sr_i = load_audio(instrumental_path)
    if sr_i != sr:
        inst = resample(inst, sr_i, sr)
    if inst.shape[0] != song.shape[0]:   # mono against stereo: compare the mono mixes
        if song.shape[0] > 1:
            song = song.mean(axis=0, keepdims=True)
        inst = inst.mean(axis=0, keepdims=True)
    lag = find_lag(song.mean(axis=0), inst.mean(axis=0), sr, max_offset_s)
    if lag > 0:
        song_a, inst_a = song[:, lag:], inst
    else:
        song_a, inst_a = song, inst[:, -lag:]
    n = min(song_a.shape[1], inst_a.shape[1])
    song_a, inst_a = song_a[:, :n], inst_a[:, :n]
    if n < 2 * sr:
        raise PairError(f"{what}: the two files overlap for only {n / sr:.1f} s")
    gain = estimate_gain(song_a, inst_a)
    scaled = (inst_a * np.float32(gain)).astype(np.float32)
    norm = float(np.linalg.norm(song_a) * np.linalg.norm(scaled))
    corr = float(np.sum(song_a.astype(np.float64) * scaled)) / norm if norm > 0 else 0.0
    vocals = song_a - scaled
    energy = float(np.sum(song_a.astype(np.float64) ** 2))
    residual_db = 10 * np.log10(max(float(np.sum(vocals.astype(np.float64) ** 2)), 1e-20)
                                / max(energy, 1e-20))
    if residual_db < MIN_RESIDUAL_DB:
        raise PairError(f"{what}: the song and the instrumental are the same audio (vocal "
                        f"residual {residual_db:+.0f} dB against the song): the song must "
                        f"have the vocals")
    if not 0.02 < gain < 50 or corr < MIN_CORRELATION or residual_db >= 0:
        raise PairError(f"{what}: not the same recording (correlation {corr:.2f} after alignment, "
                        f"vocal residual {residual_db:+.1f} dB against the song); check the files")
    lo, hi = _trim_bounds(song_a, sr)
    if hi - lo < 2 * sr:
        raise PairError(f"{what}: less than 2 s of sound after trimming the silence")
    return {"name": name, "song": np.ascontiguousarray(song_a[:, lo:hi]),
            "instrumental": np.ascontiguousarray(scaled[:, lo:hi]),
            "vocals": np.ascontiguousarray(vocals[:, lo:hi]), "sr": int(sr),
            "offset_samples": int(lag), "offset_s": lag / sr, "gain": float(gain),
            "correlation": corr, "residual_db": float(residual_db),
            "trimmed_s": (lo / sr, (n - hi) / sr)}


def pair_example(pair, rule="difference", start=0.0, stop=1.0):
    """The cache array of part of a pair, with the vocal target of ``rule``.

    Parameters
    ----------
    pair : dict
        From :func:`load_pair`.
    rule : {'difference', 'article'}
    start, stop : float
        The part, as fractions of the pair's length (``0, 0.85`` for training
        and ``0.85, 1`` for validation, say).

    Returns
    -------
    numpy.ndarray, shape (3, 513, frames), float32
        ``[mix, vocal, inst]`` at 16 kHz, all divided by the maximum of the mix.
    """
    from .cache import make_example
    if rule not in TARGET_RULES:
        raise UserError(f"unknown target rule {rule!r} (one of {', '.join(TARGET_RULES)})")
    n = pair["song"].shape[1]
    a, b = int(round(start * n)), int(round(stop * n))
    song, inst, sr = pair["song"][:, a:b], pair["instrumental"][:, a:b], pair["sr"]
    if rule == "difference":
        return make_example(song, song - inst, sr, inst)
    mix = spectrogram(song, sr)[0]
    acc = spectrogram(inst, sr)[0]
    mix, peak = normalise(mix)
    acc = normalise(acc, peak)[0]
    return np.stack([mix, np.maximum(mix - acc, 0), acc])


def find_pairs(folder):
    """The pairs of a folder: ``<name>.<ext>`` with ``<name>_instrumental.<ext>``.

    Parameters
    ----------
    folder : str

    Returns
    -------
    list of (str, str)
        ``(song, instrumental)`` paths, sorted by name. The extensions may
        differ (``song.flac`` + ``song_instrumental.mp3``).

    Raises
    ------
    UserError
        No such folder, or no pair in it.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise UserError(f"no such folder: {folder}")
    files = {}
    for f in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(f)
        if ext and not f.startswith(".") and os.path.isfile(os.path.join(folder, f)):
            files.setdefault(stem, os.path.join(folder, f))
    pairs = [(files[s], files[s + "_instrumental"]) for s in sorted(files)
             if not s.endswith("_instrumental") and s + "_instrumental" in files]
    if not pairs:
        raise UserError(f"no pairs in {folder}: name them <name>.<ext> and "
                        "<name>_instrumental.<ext>")
    return pairs


def load_pair_stems(song, instrumental, max_offset_s=MAX_OFFSET_S, mono=True):
    """A song and its instrumental as :class:`~unetvocalsep.training.stems.Stems`, for ``prepare pairs``.

    The one pair pipeline of the package: :func:`load_pair` aligns, scales,
    checks and trims (as for ``finetune``), and the result is given at 16 kHz
    mono, the vocals left to the cache (``mixture - instrumental``).

    Parameters
    ----------
    song, instrumental : str
    max_offset_s : float
    mono : bool
        Accepted for the loader protocol; pairs are always 16 kHz mono.

    Returns
    -------
    Stems
        ``vocals`` is ``None``; ``meta`` holds ``offset_s``, ``offset_samples``
        (at 16 kHz), ``gain``, ``correlation``, ``residual_db``, ``trimmed_s``.

    Raises
    ------
    unetvocalsep.training.tracks.TrackError
        For what :func:`load_pair` refuses (:class:`PairError`).
    """
    from .stems import Stems
    from .tracks import TrackError

    try:
        p = load_pair(song, instrumental, max_offset_s)
    except PairError as exc:
        raise TrackError(str(exc)) from None
    mix16 = to_mono16(p["song"], p["sr"])
    inst16 = to_mono16(p["instrumental"], p["sr"])
    n = min(mix16.shape[-1], inst16.shape[-1])
    meta = {"warnings": [], "offset_s": p["offset_s"],
            "offset_samples": int(round(p["offset_s"] * constants.SR)),
            "instrumental": os.path.abspath(instrumental), "overlap_s": n / constants.SR,
            "gain": p["gain"], "correlation": p["correlation"], "residual_db": p["residual_db"],
            "trimmed_s": list(p["trimmed_s"])}
    return Stems(mix16[:, :n], None, inst16[:, :n], constants.SR, meta)
