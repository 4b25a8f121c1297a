"""A sung vocal track: melody notes rendered by one singer's syllables, with breath and reverb.

:func:`render_vocals` puts :mod:`~unetvocalsep.synth.voice`'s notes together into
a phrase-shaped vocal line, and :func:`reverb_ir` gives it a room.

Examples
--------
>>> import numpy as np
>>> ir = reverb_ir(np.random.default_rng(0), rt60=0.8)
>>> ir.shape[1]          # stereo: one response per side
2
"""
import numpy as np

from .voice import FS, analyse_syllable, make_singer, sing_note


def reverb_ir(rng, rt60, seconds_max=2.5):
    """A stereo synthetic room: exponentially decaying noise.

    Parameters
    ----------
    rng : numpy.random.Generator
    rt60 : float
        Decay time to -60 dB (s).
    seconds_max : float

    Returns
    -------
    ndarray, shape (n, 2)
        Decorrelated left/right impulse responses, each of unit energy.
    """
    n = int(min(rt60 * 1.2, seconds_max) * FS)
    t = np.arange(n) / FS
    env = np.exp(-6.9 * t / rt60)
    pre = int(rng.uniform(0.005, 0.03) * FS)
    ir = rng.normal(0, 1, (n, 2)) * env[:, None]
    ir = np.concatenate([np.zeros((pre, 2)), ir])
    # Darken the tail a little (one-pole low-pass).
    from scipy.signal import lfilter
    a = rng.uniform(0.2, 0.6)
    ir = lfilter([1 - a], [1, -a], ir, axis=0)
    return ir / np.sqrt((ir ** 2).sum(axis=0, keepdims=True))


def render_vocals(notes, phrase_ends, seconds, rng, syllables, cache_dir, singer=None,
                  fs=FS, dry=False):
    """Sing a melody.

    Parameters
    ----------
    notes : ndarray, shape (n, 3)
        start (s), end (s), MIDI pitch, already in the singer's register.
    phrase_ends : ndarray, shape (m,)
        Times (s) where phrases end (breaths, possible instrumental phrases).
    seconds : float
        Length of the output.
    rng : numpy.random.Generator
    syllables : list of (str, str)
    cache_dir : str
    singer : dict, optional
        From :func:`make_singer`; drawn at random if None.
    fs : int
        Output rate.
    dry : bool
        Return the dry mono voice (peak 1), with no reverb or panning.

    Returns
    -------
    vocals : ndarray, shape (round(seconds * fs), 2), or (round(seconds * fs),) if ``dry``
        float64 stereo vocals (dry voice centred, stereo reverb).
    sung : ndarray, shape (k, 3)
        The notes actually sung: start (s), end (s), MIDI pitch.
    """
    from scipy.signal import fftconvolve
    singer = singer or make_singer(rng, syllables)
    n = int(round(seconds * fs))
    out = np.zeros(n + fs)
    paths = singer["paths"]
    bounds = np.concatenate([[0.0], np.asarray(phrase_ends, dtype=float), [np.inf]])
    phrase_of = np.searchsorted(bounds, notes[:, 0], side="right") - 1 if len(notes) else []
    # Some phrases are left to the band, but never all of them.
    with_notes = sorted({int(p) for p in phrase_of})
    skipped = {p for p in with_notes if rng.random() < singer["skip_phrase"]}
    if with_notes and len(skipped) == len(with_notes):
        skipped.discard(with_notes[int(rng.integers(len(with_notes)))])
    prev_end, prev_pitch, prev_syl = -1.0, None, None
    sung = []
    for k, (start, end, pitch) in enumerate(notes):
        drop = rng.random() < singer["rest_prob"]
        if phrase_of[k] in skipped or drop:
            prev_pitch = None
            continue
        dur = end - start
        # Breath before the end of a phrase / the next note.
        nxt = notes[k + 1, 0] if k + 1 < len(notes) else np.inf
        if np.any(np.abs(np.asarray(phrase_ends) - end) < 1e-3) or nxt - end > 0.05:
            dur *= rng.uniform(0.75, 0.95)
        elif rng.random() < 0.3:
            dur *= singer["staccato"]
        dur = max(dur, 0.08)
        legato = prev_pitch is not None and start - prev_end < 0.05
        melisma = legato and prev_syl is not None and rng.random() < singer["melisma"]
        syl = prev_syl if melisma else analyse_syllable(paths[int(rng.integers(len(paths)))],
                                                        cache_dir)
        wave, pre = sing_note(syl, pitch, dur, singer, rng,
                              prev_pitch=prev_pitch if legato else None,
                              consonant=not melisma, fs=fs)
        gain = 10 ** (rng.uniform(-1, 1) * singer["gain_jitter"] / 20)
        s = int(round(start * fs)) - pre
        a, b = max(s, 0), min(s + len(wave), len(out))
        if b > a:
            out[a:b] += gain * wave[a - s:b - s]
        sung.append((start, start + dur, pitch))
        prev_end, prev_pitch, prev_syl = start + dur, pitch, syl
    voice = out[:n]
    peak = np.abs(voice).max()
    if peak > 0:
        voice /= peak
    sung = np.asarray(sung, dtype=np.float64).reshape(-1, 3)
    if dry:
        return voice, sung
    ir = reverb_ir(rng, singer["rt60"])
    wet = np.stack([fftconvolve(voice, ir[:, c])[:n] for c in range(2)], axis=1)
    theta = (singer["pan"] + 1) * np.pi / 4
    out = voice[:, None] * np.array([np.cos(theta), np.sin(theta)]) * np.sqrt(2) \
        * (1 - singer["wet"]) + singer["wet"] * wet
    return out, sung
