"""Dry vocal takes for the real-music corpus: sung, harmonised, spoken, rapped.

Every take is mono float64 at the corpus rate, peak 1, silent outside its
phrases.  Sung takes re-pitch KLettres syllables with WORLD
(:func:`.singing.render_vocals` at the corpus rate) onto a chorale line, with
vibrato and glides from the singer and a breath before each phrase;
harmonised takes add 1-2 backing voices on the chorale's inner lines.
Spoken and rapped takes keep the recordings' natural pitch: speech as words
and phrases with pauses, rap on a 16th-note grid.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.synth import takes, voice
>>> recs = voice.find_recordings(languages=["it"])            # doctest: +SKIP
>>> y, meta = takes.spoken_take(np.random.default_rng(0), recs, 16000 * 10, 16000)  # doctest: +SKIP
>>> y.shape                                                   # doctest: +SKIP
(160000,)
"""
import functools

import numpy as np

from . import singing, voice
from ..resampling import resample

#: Probability of each kind of vocal take in a song with vocals.
KINDS = {"sung": 0.5, "harmony": 0.15, "spoken": 0.15, "rap": 0.2}


@functools.lru_cache(maxsize=4096)
def _recording(path, sr):
    """A KLettres recording at ``sr``, mono, silence trimmed, peak 1."""
    import soundfile as sf

    x, fs = sf.read(path, dtype="float32", always_2d=True)
    x = resample(x.mean(axis=1), fs, sr).astype(np.float64)
    peak = np.abs(x).max()
    if peak <= 0:
        return np.zeros(0)
    x /= peak
    hop = max(sr // 100, 1)
    n = len(x) // hop
    if n == 0:
        return x
    e = np.sqrt(np.mean(x[:n * hop].reshape(n, hop) ** 2, axis=1))
    on = np.flatnonzero(e > 10 ** (-40 / 20) * e.max())
    if len(on) == 0:
        return np.zeros(0)
    a, b = on[0] * hop, min((on[-1] + 1) * hop, len(x))
    y = x[a:b].copy()
    f = min(int(0.005 * sr), len(y) // 2)
    if f:
        y[:f] *= np.linspace(0, 1, f)
        y[len(y) - f:] *= np.linspace(1, 0, f)
    return y


def _speaker(rng, recordings):
    """One language's recordings (one KLettres speaker), as paths."""
    langs = sorted({lang for lang, _ in recordings})
    lang = langs[int(rng.integers(len(langs)))]
    return lang, [p for la, p in recordings if la == lang]


def _shift(x, semitones):
    """Pitch and speed change by resampling (a different-sounding speaker)."""
    if abs(semitones) < 1e-3 or len(x) < 2:
        return x
    r = 2.0 ** (semitones / 12.0)
    pos = np.arange(0, len(x) - 1, r)
    return np.interp(pos, np.arange(len(x)), x)


def spoken_take(rng, recordings, n, sr, rap=False):
    """Speech or rap from natural-pitch recordings.

    Parameters
    ----------
    rng : numpy.random.Generator
    recordings : list of (str, str)
        ``(language, path)`` from :func:`.voice.find_recordings`.
    n : int
        Length in samples.
    sr : int
    rap : bool
        Place syllables on a 16th-note grid instead of as speech.

    Returns
    -------
    take : numpy.ndarray, shape (n,)
    meta : dict
    """
    lang, paths = _speaker(rng, recordings)
    shift = float(rng.uniform(-2.5, 2.5))
    out = np.zeros(n + sr)
    t = int(rng.uniform(0.0, 1.0) * sr)
    meta = {"kind": "rap" if rap else "spoken", "language": lang, "shift": round(shift, 3)}
    if rap:
        bpm = float(rng.uniform(78, 112))
        step = 60.0 / bpm / 4 * sr
        density = float(rng.uniform(0.45, 0.9))
        meta.update(bpm=round(bpm, 2), density=round(density, 3))
        slot = 0
        while t < n:
            bars = int(rng.choice([1, 2, 4]))
            for _ in range(bars * 16):
                if rng.random() < density * (1.2 if slot % 4 == 0 else 0.9):
                    syl = _shift(_recording(paths[int(rng.integers(len(paths)))], sr), shift)
                    room = int(step * rng.choice([1, 1, 2, 2, 3]))
                    seg = syl[:room].copy()
                    f = min(int(0.01 * sr), len(seg) // 2)
                    if f:
                        seg[len(seg) - f:] *= np.linspace(1, 0, f)
                    gain = 1.0 if slot % 4 == 0 else float(rng.uniform(0.55, 0.9))
                    s = t + int(rng.normal(0, 0.008) * sr)
                    s = max(s, 0)
                    e = min(s + len(seg), len(out))
                    if e > s:
                        out[s:e] += gain * seg[:e - s]
                t += int(step)
                slot += 1
            t += int(step * 16 * int(rng.choice([0, 0, 1])))  # a bar of rest
    else:
        rate = float(rng.uniform(0.7, 1.3))
        meta["rate"] = round(rate, 3)
        while t < n:
            phrase_end = t + int(rng.uniform(1.2, 4.5) * sr)
            while t < min(phrase_end, n):
                for _ in range(int(rng.integers(1, 4))):   # a word of 1-3 syllables
                    syl = _shift(_recording(paths[int(rng.integers(len(paths)))], sr), shift)
                    gain = float(rng.uniform(0.6, 1.0))
                    e = min(t + len(syl), len(out))
                    if e > t:
                        out[t:e] += gain * syl[:e - t]
                    t += max(int(len(syl) * rng.uniform(0.8, 1.0)), 1)
                t += int(rng.uniform(0.04, 0.2) / rate * sr)
            t += int(rng.uniform(0.3, 1.5) * sr)
    y = out[:n]
    peak = np.abs(y).max()
    return (y / peak if peak > 0 else y), meta


def breath(rng, sr):
    """An inhalation: band-limited noise with a swell, about -20 dB."""
    from scipy.signal import butter, sosfilt
    m = int(rng.uniform(0.15, 0.4) * sr)
    lo, hi = rng.uniform(400, 1200), min(rng.uniform(2500, 6000), 0.45 * sr)
    noise = sosfilt(butter(2, [lo, hi], btype="band", fs=sr, output="sos"), rng.normal(0, 1, m))
    env = np.sin(np.linspace(0, np.pi, m)) ** 1.5
    b = noise * env
    return b / (np.abs(b).max() + 1e-12) * 10 ** (rng.uniform(-26, -16) / 20)


def sung_take(rng, syllables, n, sr, cache_dir, voices=1):
    """Sung melody (and backing voices) over a chorale, with breaths.

    Parameters
    ----------
    rng : numpy.random.Generator
    syllables : list of (str, str)
        Recordings to sing (WORLD analyses cached in ``cache_dir``).
    n : int
    sr : int
    cache_dir : str
    voices : int
        1 for a lead, 2-3 for a lead with backing harmonies.

    Returns
    -------
    take : numpy.ndarray, shape (n,)
    meta : dict
        Includes ``arrangement``: the :func:`.score.arrange` result (so that a
        rendered band can follow the same chorale).
    """
    from . import score
    seconds = n / sr
    chorale = score.pick_chorale(rng, cache_dir)
    arr = score.arrange(chorale, rng, seconds)
    lead = voice.make_singer(rng, syllables)
    mel = voice.place_melody(arr["voices"]["soprano"], lead)
    y, sung = singing.render_vocals(mel, arr["phrase_ends"], seconds, rng, syllables, cache_dir,
                                  lead, fs=sr, dry=True)
    meta = {"kind": "harmony" if voices > 1 else "sung", "chorale": arr["name"],
            "singers": [{k: v for k, v in lead.items() if k != "paths"}], "breaths": 0}
    for part in ("alto", "tenor")[:max(voices - 1, 0)]:
        singer = voice.make_singer(rng, syllables)
        notes = voice.place_melody(arr["voices"][part], singer)
        h, _ = singing.render_vocals(notes, arr["phrase_ends"], seconds, rng, syllables,
                                   cache_dir, singer, fs=sr, dry=True)
        y = y + h * 10 ** (rng.uniform(-9, -3) / 20)
        meta["singers"].append({k: v for k, v in singer.items() if k != "paths"})
    # A breath before each phrase the lead sings (a gap of at least 0.3 s).
    starts = [s for k, s in enumerate(sung[:, 0]) if k == 0 or s - sung[k - 1, 1] > 0.3]
    for s in starts:
        if rng.random() < 0.7:
            b = breath(rng, sr)
            a = int(s * sr) - len(b) - int(rng.uniform(0.0, 0.05) * sr)
            if a >= 0:
                y[a:a + len(b)] += b
                meta["breaths"] += 1
    peak = np.abs(y).max()
    meta["arrangement"] = arr
    return (y / peak if peak > 0 else y), meta
