"""Singing made from real spoken syllables (KLettres) with the WORLD vocoder.

Each KLettres syllable recording (Italian and Spanish, 44.1 kHz mono) is
analysed once with pyworld (harvest F0, CheapTrick spectral envelope, D4C
aperiodicity) and cached on disk.  To sing a note, the consonant is kept at
its natural speed just before the note onset, the vowel is stretched to the
note length, and a new F0 contour (target pitch, glide from the previous
note, vibrato, slow drift) is synthesised.  A "singer" is a choice of
speaker language, register and formant shift (spectral-envelope warping),
and each track gets a synthetic reverb.
"""
import hashlib
import io
import os
import re

import numpy as np

from ..errors import UserError
from .cache import atomic_write_bytes

#: Sample rate of the recordings and of the corpus (Hz).
FS = 44100
#: WORLD frame period (ms).
FRAME_PERIOD = 5.0
#: F0 search range of the analysis (Hz).
F0_FLOOR, F0_CEIL = 70.0, 700.0
#: Bump when the analysis or its storage changes.
ANALYSIS_VERSION = 1
#: Languages whose syllables are used.
LANGUAGES = ("it", "es")
#: A syllable file name: letters ending with a vowel ("ll.ogg" is a letter name).
_SYLLABLE = re.compile(r"^[a-z]*[aeiou]\.ogg$")
#: Singer registers: name -> (lowest, highest) comfortable MIDI note, and
#: the range of the formant warping factor used for that register.
REGISTERS = {
    "bass": ((41, 62), (0.80, 0.92)),
    "baritone": ((45, 65), (0.84, 0.96)),
    "tenor": ((48, 69), (0.88, 1.00)),
    "alto": ((55, 74), (0.96, 1.08)),
    "mezzo": ((57, 77), (0.98, 1.12)),
    "soprano": ((60, 81), (1.02, 1.18)),
}


def _pyworld():
    try:
        import pyworld
    except ImportError:
        raise UserError("the synthetic corpus needs pyworld: "
                        "pip install 'unetvocalsep[synth]'") from None
    return pyworld


#: KLettres languages reserved for independent testing: never used by the corpus.
RESERVED_LANGUAGES = ("fr", "de", "en", "en_GB")
#: The language kept out of training, for validation only.
HELD_OUT_LANGUAGE = "pt_BR"


def refuse_reserved(languages):
    """Raise :class:`UserError` if ``languages`` names a reserved KLettres language."""
    bad = sorted(set(languages) & set(RESERVED_LANGUAGES))
    if bad:
        raise UserError(f"KLettres {', '.join(bad)} are reserved for independent testing")


def find_syllables(klettres_dir="/usr/share/klettres", languages=LANGUAGES):
    """List the syllable recordings of KLettres.

    Parameters
    ----------
    klettres_dir : str
        Root of the Debian ``klettres-data`` files.
    languages : sequence of str

    Returns
    -------
    list of tuple (str, str)
        Sorted ``(language, path)`` pairs.

    Raises
    ------
    UserError
        If no recordings are found for one of the languages.
    """
    refuse_reserved(languages)
    out = []
    for lang in languages:
        folder = os.path.join(klettres_dir, lang, "syllab")
        try:
            names = sorted(n for n in os.listdir(folder) if _SYLLABLE.match(n))
        except OSError:
            raise UserError(f"no KLettres syllable recordings in {folder}: install the "
                            "Debian package klettres-data (scripts/install-system-deps.sh)") from None
        if not names:   # the folder is there, but holds no consonant-vowel syllable
            raise UserError(f"KLettres language {lang!r} has no sung syllables (consonants "
                            f"then a vowel, e.g. 'ba.ogg') in {folder}; languages that "
                            "have them: it, es, lt, nds, ru, tn, uk, pt_BR")
        out.extend((lang, os.path.join(folder, n)) for n in names)
    return out


def find_recordings(klettres_dir="/usr/share/klettres", languages=None,
                    folders=("syllab", "alpha")):
    """List every KLettres recording (syllables and letter names) of ``languages``.

    Parameters
    ----------
    klettres_dir : str
    languages : sequence of str or None
        Default: every installed language except :data:`RESERVED_LANGUAGES`
        and :data:`HELD_OUT_LANGUAGE`.  Reserved languages are refused.
    folders : sequence of str

    Returns
    -------
    list of tuple (str, str)
        Sorted ``(language, path)`` pairs.

    Raises
    ------
    UserError
        For a reserved language, or when nothing is found.
    """
    if languages is None:
        try:
            languages = sorted(d for d in os.listdir(klettres_dir)
                               if os.path.isdir(os.path.join(klettres_dir, d))
                               and d not in RESERVED_LANGUAGES and d != HELD_OUT_LANGUAGE)
        except OSError:
            languages = []
    refuse_reserved(languages)
    out = []
    for lang in languages:
        for sub in folders:
            folder = os.path.join(klettres_dir, lang, sub)
            try:
                names = sorted(n for n in os.listdir(folder) if n.endswith(".ogg"))
            except OSError:
                continue
            out.extend((lang, os.path.join(folder, n)) for n in names)
    if not out:
        raise UserError(f"no KLettres recordings in {klettres_dir}: install the Debian "
                        "package klettres-data (scripts/install-system-deps.sh)")
    return out


def analyse_syllable(path, cache_dir):
    """WORLD analysis of one recording, cached on disk.

    Parameters
    ----------
    path : str
        A mono (or stereo, averaged) 44.1 kHz recording.
    cache_dir : str
        Cache folder (``<cache_dir>/world``).

    Returns
    -------
    dict
        ``f0``: float32 (T,) in Hz, 0 where unvoiced; ``sp``: float32 (T, 1025)
        spectral envelope; ``ap``: float32 (T, 1025) aperiodicity;
        ``vowel``: int64 (2,) first and last+1 frame of the main voiced region.
        The arrays are the float32 ones stored in the cache, whether the cache
        was cold or warm, so results do not depend on the cache state.
    """
    st = os.stat(path)
    pw = _pyworld()
    key = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|"
                       f"{FS}|{FRAME_PERIOD}|{F0_FLOOR}|{F0_CEIL}|{ANALYSIS_VERSION}|"
                       f"{getattr(pw, '__version__', '')}".encode()).hexdigest()
    lang = os.path.basename(os.path.dirname(os.path.dirname(path)))
    cache = os.path.join(cache_dir, "world",
                         f"{lang}-{os.path.basename(path)}-{key[:16]}.npz")
    try:
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        pass
    import soundfile as sf
    try:
        x, fs = sf.read(path, dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    x = np.ascontiguousarray(x.mean(axis=1))
    if fs != FS:
        import librosa
        x = librosa.resample(x, orig_sr=fs, target_sr=FS)
    f0, t = pw.harvest(x, FS, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD)
    sp = pw.cheaptrick(x, f0, t, FS, f0_floor=F0_FLOOR)
    ap = pw.d4c(x, f0, t, FS)
    voiced = f0 > 0
    # Main voiced region: the longest run of voiced frames.
    best, cur_start, vowel = 0, None, (0, len(f0))
    for i, v in enumerate(np.append(voiced, False)):
        if v and cur_start is None:
            cur_start = i
        elif not v and cur_start is not None:
            if i - cur_start > best:
                best, vowel = i - cur_start, (cur_start, i)
            cur_start = None
    data = {"f0": f0.astype(np.float32), "sp": sp.astype(np.float32),
            "ap": ap.astype(np.float32), "vowel": np.asarray(vowel, dtype=np.int64)}
    buf = io.BytesIO()
    np.savez(buf, **data)
    atomic_write_bytes(cache, buf.getvalue())
    return data


def midi_to_hz(m):
    """Convert MIDI note numbers to Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def warp_envelope(env, alpha):
    """Stretch a spectral envelope along frequency (formant shift).

    Parameters
    ----------
    env : ndarray, shape (T, K)
    alpha : float
        > 1 moves formants up (smaller vocal tract), < 1 moves them down.

    Returns
    -------
    ndarray, shape (T, K)
    """
    k = env.shape[1]
    src = np.minimum(np.arange(k) / alpha, k - 1.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, k - 1)
    frac = src - i0
    return env[:, i0] * (1.0 - frac) + env[:, i1] * frac


def make_singer(rng, syllables):
    """Draw a random singer.

    Parameters
    ----------
    rng : numpy.random.Generator
    syllables : list of (str, str)
        From :func:`find_syllables`.

    Returns
    -------
    dict
        ``register``, ``range`` (MIDI lo, hi), ``alpha`` (formant warp),
        ``paths`` (the syllables this singer uses), vibrato, glide and reverb
        settings.
    """
    register = list(REGISTERS)[int(rng.integers(len(REGISTERS)))]
    (lo, hi), (a_lo, a_hi) = REGISTERS[register]
    langs = sorted({lang for lang, _ in syllables})
    pick = rng.random()
    if pick < 0.4 or len(langs) < 2:
        use = [langs[int(rng.integers(len(langs)))]]
    else:
        use = langs
    return {
        "register": register,
        "range": (lo, hi),
        "alpha": float(rng.uniform(a_lo, a_hi)),
        "languages": use,
        "paths": [p for lang, p in syllables if lang in use],
        "vibrato_rate": float(rng.uniform(4.5, 6.5)),        # Hz
        "vibrato_depth": float(rng.uniform(10.0, 60.0)),     # cents
        "vibrato_delay": float(rng.uniform(0.1, 0.35)),      # s
        "glide": float(rng.uniform(0.03, 0.09)),             # s
        "drift": float(rng.uniform(3.0, 15.0)),              # cents
        "melisma": float(rng.uniform(0.0, 0.3)),             # P(reuse vowel)
        "rest_prob": float(rng.uniform(0.0, 0.12)),          # P(drop a note)
        "skip_phrase": float(rng.uniform(0.0, 0.3)),         # P(instrumental phrase)
        "staccato": float(rng.uniform(0.5, 1.0)),            # note length factor
        "rt60": float(rng.uniform(0.3, 2.0)),                # s
        "wet": float(rng.uniform(0.05, 0.35)),
        "pan": float(rng.uniform(-0.15, 0.15)),
        "gain_jitter": float(rng.uniform(0.0, 3.0)),         # dB per note
    }


def place_melody(notes, singer):
    """Transpose a melody by octaves into the singer's range.

    Parameters
    ----------
    notes : ndarray, shape (n, 3)
        start (s), end (s), MIDI pitch.
    singer : dict

    Returns
    -------
    ndarray, shape (n, 3)
    """
    notes = np.array(notes, dtype=np.float64).reshape(-1, 3)
    if len(notes):
        lo, hi = singer["range"]
        shift = 12 * round(((lo + hi) / 2.0 - np.median(notes[:, 2])) / 12.0)
        notes[:, 2] += shift
    return notes


def envelope_to_rate(env, fs):
    """Resample WORLD envelopes analysed at :data:`FS` for synthesis at ``fs``.

    Parameters
    ----------
    env : numpy.ndarray, shape (frames, 1025)
        Spectral envelope or aperiodicity on the 2048-point grid at 44.1 kHz.
    fs : int
        Synthesis rate, at most :data:`FS`.

    Returns
    -------
    numpy.ndarray, shape (frames, bins)
        On the grid of the FFT size WORLD uses at ``fs`` (1024 points, 513
        bins, at 16 kHz), covering 0 .. fs/2.
    """
    if fs == FS:
        return env
    fft = 2 ** int(np.ceil(np.log2(3.0 * fs / 70.0)))  # WORLD's GetFFTSizeForCheapTrick
    src_fft = (env.shape[1] - 1) * 2
    pos = np.arange(fft // 2 + 1) * (fs / fft) / (FS / src_fft)
    i0 = np.minimum(np.floor(pos).astype(np.int64), env.shape[1] - 2)
    fr = pos - i0
    return env[:, i0] * (1.0 - fr) + env[:, i0 + 1] * fr


def sing_note(syl, pitch, duration, singer, rng, prev_pitch=None, consonant=True, fs=FS):
    """Sing one syllable on one note.

    Parameters
    ----------
    syl : dict
        From :func:`analyse_syllable`.
    pitch : float
        Target MIDI pitch.
    duration : float
        Note length in seconds (from the vowel onset).
    singer : dict
        From :func:`make_singer`.
    rng : numpy.random.Generator
    prev_pitch : float or None
        Pitch of the previous note, for a glide into this one.
    consonant : bool
        False to sing the vowel only (melisma).
    fs : int
        Output rate (the envelopes are resampled, see :func:`envelope_to_rate`).

    Returns
    -------
    wave : ndarray, shape (n,)
        float64 mono waveform at ``fs``.
    pre : int
        Number of samples of consonant before the note onset.
    """
    pw = _pyworld()
    fp = FRAME_PERIOD / 1000.0
    f0s, sps, aps = syl["f0"], syl["sp"], syl["ap"]
    vs, ve = int(syl["vowel"][0]), int(syl["vowel"][1])
    nv = max(ve - vs, 1)
    cons = np.arange(max(vs - int(0.2 / fp), 0), vs) if consonant else np.arange(0)
    onset = np.arange(vs, vs + max(2, int(0.25 * nv))) if consonant else np.arange(0)
    s0 = vs + max(2, int(0.25 * nv))
    s1 = max(ve - max(2, int(0.2 * nv)), s0 + 1)
    release = np.arange(s1, ve)
    n_total = max(int(round(duration / fp)), 4)
    n_steady = n_total - len(onset) - len(release)
    if n_steady < 2:
        # Short note: squeeze the whole vowel into it.
        pos = np.linspace(vs if consonant else s0, ve - 1, n_total)
        voiced_pos = pos
    else:
        t = np.arange(n_steady) * fp
        period = rng.uniform(0.6, 1.4)
        span = max(s1 - s0 - 1, 0)
        steady = s0 + span * (0.5 - 0.5 * np.cos(2 * np.pi * t / period))
        voiced_pos = np.concatenate([onset.astype(float), steady, release.astype(float)])
    pos = np.concatenate([cons.astype(float), voiced_pos])
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, len(f0s) - 1)
    i1 = np.minimum(i0 + 1, len(f0s) - 1)
    fr = (pos - i0)[:, None]
    # Interpolate the log envelope (smoother than linear power).
    sp = np.exp(np.log(sps[i0].astype(np.float64) + 1e-16) * (1 - fr)
                + np.log(sps[i1].astype(np.float64) + 1e-16) * fr)
    ap = aps[i0].astype(np.float64) * (1 - fr) + aps[i1].astype(np.float64) * fr
    sp = warp_envelope(sp, singer["alpha"])
    ap = np.clip(warp_envelope(ap, singer["alpha"]), 0.0, 1.0)
    sp, ap = envelope_to_rate(sp, fs), envelope_to_rate(ap, fs)

    # New F0: unvoiced consonant frames stay unvoiced, voiced frames sing.
    nvf = len(voiced_pos)
    t = np.arange(nvf) * fp
    cents = np.zeros(nvf)
    if prev_pitch is not None:
        g = singer["glide"]
        cents += 100.0 * (prev_pitch - pitch) * np.clip(1 - t / g, 0, 1) ** 2
    ramp = np.clip((t - singer["vibrato_delay"]) / 0.2, 0, 1)
    phase = rng.uniform(0, 2 * np.pi)
    cents += singer["vibrato_depth"] * ramp * np.sin(2 * np.pi * singer["vibrato_rate"] * t + phase)
    drift = np.cumsum(rng.normal(0, 1, nvf))
    drift -= np.linspace(0, drift[-1], nvf)  # ends where it starts
    drift = drift / (np.abs(drift).max() + 1e-9) * singer["drift"]
    cents += drift
    f0_voiced = midi_to_hz(pitch) * 2.0 ** (cents / 1200.0)
    f0 = np.concatenate([np.where(f0s[i0[:len(cons)]] > 0, midi_to_hz(pitch), 0.0),
                         f0_voiced])
    wave = pw.synthesize(np.ascontiguousarray(f0), np.ascontiguousarray(sp),
                         np.ascontiguousarray(ap), fs, FRAME_PERIOD)
    if not np.isfinite(wave).all():
        # WORLD can return NaN for near-silent envelopes of some recordings
        # (seen with a few KLettres recordings); floor them and retry once,
        # and if that fails too, the note becomes a rest.
        wave = pw.synthesize(np.ascontiguousarray(f0),
                             np.ascontiguousarray(np.maximum(sp, 1e-10)),
                             np.ascontiguousarray(np.clip(ap, 1e-3, 1 - 1e-3)), fs, FRAME_PERIOD)
        if not np.isfinite(wave).all():
            wave = np.zeros(len(wave))
    pre = int(round(len(cons) * fp * fs))
    # Short fades against clicks.
    n_in = min(int(0.005 * fs), len(wave))
    n_out = min(int(0.03 * fs), len(wave))
    wave[:n_in] *= np.linspace(0, 1, n_in)
    wave[len(wave) - n_out:] *= np.linspace(1, 0, n_out)
    return wave, pre


