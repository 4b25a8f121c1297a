"""The band: General MIDI instruments and drums rendered with FluidSynth.

The alto, tenor and bass lines of the chorale, the chords they make (block
chords, strums or arpeggios) and sometimes a quiet doubling of the melody
are each given a random General MIDI program, plus a drum kit playing a
simple random pattern at the tempo.  Each instrument is rendered alone with
``pretty_midi`` + FluidSynth from one of two sound fonts (FluidR3_GM or
TimGM6mb), brought to its own level and panned with a constant-power law.
"""
import os

import numpy as np

from ..errors import UserError
from .voice import FS

#: Debian ``fluid-soundfont-gm`` (MIT).
FLUIDR3 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

#: General MIDI program pools (0-based).  Choir/voice programs (52-54, 85,
#: 91) are left out on purpose: they would teach the model that "voice-like"
#: sounds belong to the accompaniment.
PROGRAMS = {
    "keys": [0, 1, 2, 4, 5, 6, 7, 11, 12],
    "organ": [16, 17, 18, 19],
    "guitar": [24, 25, 26, 27, 28, 29, 30],
    "bass": [32, 33, 34, 35, 36, 38],
    "strings": [40, 41, 42, 44, 46, 48, 49, 50],
    "winds": [56, 57, 58, 60, 61, 64, 65, 68, 70, 71, 73],
    "pad": [80, 81, 88, 89, 90, 92],
}
#: Drum kits (bank 128 presets); a missing one falls back to kit 0.
DRUM_KITS = [0, 8, 16, 24, 25, 32, 40]


def timgm6mb_path():
    """Path of the TimGM6mb sound font shipped inside pip ``pretty_midi``.

    Returns
    -------
    str or None
    """
    try:
        import pretty_midi
    except ImportError:
        return None
    p = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    return p if os.path.exists(p) else None


def check_fluidsynth(soundfonts):
    """Raise :class:`UserError` unless FluidSynth and the sound fonts are usable.

    Parameters
    ----------
    soundfonts : list of str
    """
    try:
        import pretty_midi  # noqa: F401
    except ImportError:
        raise UserError("the synthetic corpus needs pretty_midi: "
                        "pip install 'unetvocalsep[synth]'") from None
    try:
        import fluidsynth  # noqa: F401  (pip pyfluidsynth + Debian libfluidsynth3)
    except ImportError:
        raise UserError("the synthetic corpus needs pyfluidsynth and the FluidSynth library: "
                        "pip install 'unetvocalsep[synth]' and scripts/install-system-deps.sh"
                        ) from None
    except OSError as exc:
        raise UserError(f"cannot load the FluidSynth library ({exc}): "
                        "run scripts/install-system-deps.sh") from None
    if not soundfonts:
        raise UserError("no sound font given")
    for sf2 in soundfonts:
        if not os.path.isfile(sf2):
            raise UserError(f"sound font not found: {sf2} (install the Debian package "
                            "fluid-soundfont-gm: scripts/install-system-deps.sh)")


def default_soundfonts():
    """The sound fonts used by default: FluidR3_GM and TimGM6mb.

    Returns
    -------
    list of str
        FluidR3_GM first (it must exist, see :func:`check_fluidsynth`), then
        TimGM6mb if pretty_midi ships it.
    """
    out = [FLUIDR3]
    tim = timgm6mb_path()
    if tim:
        out.append(tim)
    return out


def _chords(voices, times):
    """Sounding pitches of all four voices at each time -> list of sorted lists."""
    out = []
    for t in times:
        ps = set()
        for notes in voices.values():
            if len(notes):
                on = (notes[:, 0] <= t + 1e-3) & (notes[:, 1] > t + 1e-3)
                ps.update(int(p) for p in notes[on, 2])
        out.append(sorted(ps))
    return out


def _voicing(pitches, lo, hi):
    """Move chord tones by octaves into [lo, hi]."""
    out = set()
    for p in pitches:
        while p < lo:
            p += 12
        while p > hi:
            p -= 12
        out.add(p)
    return sorted(out)


def _line(notes, lo, hi, rng, vel):
    """A voice part moved by octaves so its median lies in [lo, hi]."""
    if not len(notes):
        return []
    shift = 12 * round(((lo + hi) / 2 - np.median(notes[:, 2])) / 12)
    return [(s, e, int(p + shift), int(np.clip(vel + rng.normal(0, 8), 30, 127)))
            for s, e, p in notes]


def plan_band(arr, rng, seconds):
    """Choose the instruments and write their notes.

    Parameters
    ----------
    arr : dict
        From :func:`unetvocalsep.synth.score.arrange`.
    rng : numpy.random.Generator
    seconds : float

    Returns
    -------
    list of dict
        One per instrument: ``role``, ``program``, ``is_drum``, ``notes``
        (list of (start s, end s, pitch, velocity)), ``gain_db``, ``pan``
        (-1 left .. 1 right).
    """
    voices = arr["voices"]
    beats = arr["beats"]
    spb = 60.0 / arr["tempo_bpm"]
    band = []

    def pick(*pools):
        pool = sum((PROGRAMS[p] for p in pools), [])
        return int(pool[int(rng.integers(len(pool)))])

    def add(role, program, notes, gain_db, pan, is_drum=False):
        notes = [(s, min(e, seconds), p, v) for s, e, p, v in notes if s < seconds - 0.02]
        if notes:
            band.append({"role": role, "program": program, "is_drum": is_drum,
                         "notes": notes, "gain_db": float(gain_db), "pan": float(pan)})

    # Bass line.
    if rng.random() < 0.9:
        prog = pick("bass") if rng.random() < 0.7 else pick("strings", "keys")
        add("bass", prog, _line(voices["bass"], 33, 50, rng, 90),
            rng.uniform(-3, 2), rng.uniform(-0.1, 0.1))
    # Inner voices (alto + tenor) on one or two instruments.
    if rng.random() < 0.7:
        if rng.random() < 0.5:
            prog = pick("strings", "organ", "winds", "keys")
            add("inner", prog, _line(voices["alto"], 60, 70, rng, 75)
                + _line(voices["tenor"], 52, 63, rng, 75),
                rng.uniform(-8, -2), rng.uniform(-0.8, 0.8))
        else:
            for v, (lo, hi) in (("alto", (60, 70)), ("tenor", (52, 63))):
                add(v, pick("strings", "winds", "organ"), _line(voices[v], lo, hi, rng, 75),
                    rng.uniform(-9, -3), rng.uniform(-0.8, 0.8))
    # Chords: block, strummed or arpeggiated, on a beat grid.
    n_chord = 1 + int(rng.random() < 0.4)
    for _ in range(n_chord):
        style = ["block", "strum", "arpeggio"][int(rng.integers(3))]
        prog = {"block": lambda: pick("keys", "organ", "pad", "strings"),
                "strum": lambda: pick("guitar", "keys"),
                "arpeggio": lambda: pick("keys", "guitar", "strings")}[style]()
        step = spb * [0.5, 1.0, 2.0][int(rng.integers(3))] if style != "arpeggio" \
            else spb * [0.25, 0.5][int(rng.integers(2))]
        times = np.arange(beats[0] if len(beats) else 0.0, seconds, step)
        chords = _chords(voices, times)
        lo = int(rng.integers(48, 58))
        notes = []
        for k, (t, ch) in enumerate(zip(times, chords)):
            ch = _voicing(ch, lo, lo + 16)
            if not ch:
                continue
            vel = int(np.clip(70 + rng.normal(0, 10), 30, 120))
            if style == "block":
                notes += [(t, t + step * 0.95, p, vel) for p in ch]
            elif style == "strum":
                d = rng.uniform(0.008, 0.025)
                order = ch if k % 2 == 0 else ch[::-1]
                notes += [(t + i * d, t + step * 0.9, p, vel) for i, p in enumerate(order)]
            else:
                p = ch[k % len(ch)]
                notes.append((t, t + step * 1.5, p, vel))
        add(f"chords-{style}", prog, notes, rng.uniform(-8, -1), rng.uniform(-0.9, 0.9))
    # A quiet instrumental doubling of the melody now and then.
    if rng.random() < 0.25:
        add("melody", pick("winds", "keys", "strings"), _line(voices["soprano"], 64, 78, rng, 70),
            rng.uniform(-14, -8), rng.uniform(-0.7, 0.7))
    # Drums.
    if rng.random() < 0.85 and len(beats):
        add("drums", DRUM_KITS[int(rng.integers(len(DRUM_KITS)))],
            _drum_notes(arr, rng, seconds), rng.uniform(-4, 2), rng.uniform(-0.15, 0.15),
            is_drum=True)
    return band


def _drum_notes(arr, rng, seconds):
    """A random one-bar pattern (on 8th notes) repeated over the bars."""
    bpb = arr["beats_per_bar"]
    spb = 60.0 / arr["tempo_bpm"]
    steps = 2 * bpb
    kick = np.zeros(steps, bool)
    snare = np.zeros(steps, bool)
    kick[0] = True
    if bpb == 4:
        kick[4] = rng.random() < 0.7
        snare[2] = snare[6] = True
        if rng.random() < 0.3:      # half time
            snare[:] = False
            snare[4] = True
    else:
        snare[2:steps:2] = True
    kick |= rng.random(steps) < 0.12
    snare &= ~kick | (rng.random(steps) < 0.3)
    hat_note = [42, 42, 44, 51, 46][int(rng.integers(5))]
    hat_every = [1, 2][int(rng.integers(2))]
    downbeats = arr["downbeats"]
    if not len(downbeats):
        downbeats = np.array([0.0])
    bar = spb * bpb
    first = downbeats[0] - bar * np.ceil(downbeats[0] / bar)
    notes = []
    for b, t0 in enumerate(np.arange(first, seconds, bar)):
        for s in range(steps):
            t = t0 + s * spb / 2 + rng.normal(0, 0.004)
            if t < 0 or t >= seconds:
                continue
            def v(base):
                return int(np.clip(base + rng.normal(0, 8), 30, 127))
            if kick[s]:
                notes.append((t, t + 0.1, 36, v(100)))
            if snare[s]:
                notes.append((t, t + 0.1, 38, v(95)))
            if s % hat_every == 0:
                notes.append((t, t + 0.05, hat_note, v(70 if s % 2 else 85)))
            if s == 0 and b % 8 == 0 and rng.random() < 0.6:
                notes.append((t, t + 0.5, 49, v(90)))
    return notes


def render_instrument(inst, soundfont, n_samples):
    """Render one instrument with FluidSynth, as a mono stem.

    Parameters
    ----------
    inst : dict
        One entry of :func:`plan_band`.
    soundfont : str
        Path of an .sf2 file.
    n_samples : int
        Output length; the rendering is padded or trimmed to it.

    Returns
    -------
    ndarray, shape (n_samples,)
        float64, scaled to unit RMS (all zeros if silent).
    """
    import warnings

    import pretty_midi
    pm_inst = pretty_midi.Instrument(program=inst["program"], is_drum=inst["is_drum"])
    for s, e, p, v in inst["notes"]:
        if e > s and 0 <= p <= 127:
            pm_inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p),
                                                  start=float(s), end=float(e)))
    if not pm_inst.notes:
        return np.zeros(n_samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = np.asarray(pm_inst.fluidsynth(fs=FS, synthesizer=soundfont), dtype=np.float64)
    out = np.zeros(n_samples)
    m = min(len(y), n_samples)
    out[:m] = y[:m]
    rms = np.sqrt(np.mean(out ** 2))
    return out / rms if rms > 0 else out


def render_accompaniment(arr, rng, seconds, soundfonts):
    """Plan and render the whole band.

    Parameters
    ----------
    arr : dict
        From :func:`unetvocalsep.synth.score.arrange`.
    rng : numpy.random.Generator
    seconds : float
    soundfonts : list of str

    Returns
    -------
    accompaniment : ndarray, shape (round(seconds * FS), 2)
        float64 stereo sum of the panned stems.
    band : list of dict
        The plan (without notes), for the track's metadata.
    """
    n = int(round(seconds * FS))
    band = plan_band(arr, rng, seconds)
    out = np.zeros((n, 2))
    meta = []
    for inst in band:
        # FluidR3_GM more often: richer samples (and it has all the drum kits).
        if len(soundfonts) > 1 and rng.random() < 0.4:
            sf2 = soundfonts[1 + int(rng.integers(len(soundfonts) - 1))]
        else:
            sf2 = soundfonts[0]
        y = render_instrument(inst, sf2, n) * 10 ** (inst["gain_db"] / 20)
        theta = (inst["pan"] + 1) * np.pi / 4
        out[:, 0] += np.cos(theta) * y
        out[:, 1] += np.sin(theta) * y
        meta.append({"role": inst["role"], "program": inst["program"],
                     "is_drum": inst["is_drum"], "gain_db": inst["gain_db"],
                     "pan": inst["pan"], "soundfont": os.path.basename(sf2)})
    return out, meta
