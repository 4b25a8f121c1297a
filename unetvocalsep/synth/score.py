"""Melodies and harmony from the Bach chorales of the music21 corpus.

A chorale gives four voices: the soprano line is sung, the alto, tenor and
bass lines (and the chords they make) drive the instruments.  Parsing a
MusicXML file with music21 is slow, so each chorale is parsed once and kept
on disk as a small JSON file of note lists (see :func:`load_chorale`).

Times inside a chorale are in quarter notes ("ql"); :func:`arrange` turns them
into seconds at a random tempo, transposes them, and loops or cuts the piece
to the requested length.
"""
import hashlib
import json
import os

import numpy as np

from ..errors import UserError
from .cache import atomic_write_bytes

#: Bump when the JSON layout or the extraction rules change.
CHORALE_CACHE_VERSION = 1
#: The four chorale voices, top to bottom.
VOICES = ("soprano", "alto", "tenor", "bass")


def _music21():
    try:
        import music21
    except ImportError:
        raise UserError("the synthetic corpus needs music21: "
                        "pip install 'unetvocalsep[synth]'") from None
    return music21


def chorale_paths():
    """List the Bach chorales (MusicXML) of the music21 corpus.

    Returns
    -------
    list of str
        Sorted absolute paths, so that a seeded choice is reproducible.
    """
    music21 = _music21()
    paths = music21.corpus.getComposer("bach", fileExtensions=("mxl",))
    paths = sorted(str(p) for p in paths)
    if not paths:
        raise UserError("music21 ships no Bach chorales (music21 corpus missing?)")
    return paths


def _voice_of(part):
    name = " ".join(str(x) for x in (part.partName, part.id) if x).lower()
    for voice in VOICES:
        if voice in name:
            return voice
    return None


def _extract(path):
    """Parse one chorale with music21 into plain note lists (slow: ~0.1-1 s)."""
    music21 = _music21()
    score = music21.converter.parse(path)
    parts = list(score.parts)
    by_voice = {}
    for part in parts:
        voice = _voice_of(part)
        if voice and voice not in by_voice:
            by_voice[voice] = part
    if len(by_voice) < 4:
        if len(parts) != 4:
            return {"usable": False}
        by_voice = dict(zip(VOICES, parts))
    out = {"usable": True, "name": os.path.basename(path), "parts": {}}
    length = 0.0
    fermatas = []
    for voice in VOICES:
        part = by_voice[voice].stripTies(inPlace=False)
        notes = []
        for n in part.flatten().notes:
            dur = float(n.quarterLength)
            if dur <= 0:  # grace notes
                continue
            onset = float(n.offset)
            pitches = sorted(p.midi for p in n.pitches)
            if voice == "soprano":
                pitches = pitches[-1:]
                if any("Fermata" in e.classes for e in n.expressions):
                    fermatas.append([onset, dur])
            for p in pitches:
                notes.append([onset, dur, int(p)])
            length = max(length, onset + dur)
        if not notes:
            return {"usable": False}
        out["parts"][voice] = notes
    ts = next(iter(score.recurse().getElementsByClass("TimeSignature")), None)
    out["beats_per_bar"] = int(ts.numerator) if ts is not None else 4
    out["beat_ql"] = float(ts.beatDuration.quarterLength) if ts is not None else 1.0
    bar_offset = 0.0
    for m in by_voice["soprano"].getElementsByClass("Measure"):
        if m.number and m.number >= 1:
            bar_offset = float(m.offset)
            break
    out["bar_offset"] = bar_offset
    out["length"] = length
    out["fermatas"] = fermatas
    return out


def load_chorale(path, cache_dir):
    """Load one chorale's note lists, parsing it with music21 only once.

    Parameters
    ----------
    path : str
        A chorale file from :func:`chorale_paths`.
    cache_dir : str
        Folder for the JSON cache (``<cache_dir>/chorales``).

    Returns
    -------
    dict
        ``usable`` (bool); when usable also ``name``, ``parts`` (voice ->
        list of ``[onset_ql, duration_ql, midi]``), ``beats_per_bar``,
        ``beat_ql``, ``bar_offset`` (ql of the first full bar), ``length``
        (ql) and ``fermatas`` (list of ``[onset_ql, duration_ql]``).
    """
    music21 = _music21()
    st = os.stat(path)
    key = hashlib.sha1(f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|"
                       f"{CHORALE_CACHE_VERSION}|{music21.__version__}".encode()).hexdigest()
    cache = os.path.join(cache_dir, "chorales",
                         f"{os.path.basename(path)}-{key[:16]}.json")
    try:
        with open(cache, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    data = _extract(path)
    atomic_write_bytes(cache, json.dumps(data).encode("utf-8"))
    return data


def pick_chorale(rng, cache_dir, paths=None):
    """Pick a random usable (four-voice) chorale.

    Parameters
    ----------
    rng : numpy.random.Generator
    cache_dir : str
    paths : list of str, optional
        Candidates; default :func:`chorale_paths`.

    Returns
    -------
    dict
        As returned by :func:`load_chorale`.
    """
    paths = paths if paths is not None else chorale_paths()
    for _ in range(50):
        data = load_chorale(paths[int(rng.integers(len(paths)))], cache_dir)
        if data.get("usable"):
            return data
    raise UserError("could not find a usable four-voice chorale in the music21 corpus")


def _time_map(chorale, sec_per_ql, fermata_stretch):
    """Breakpoints (ql, seconds) of a tempo map that holds fermatas longer."""
    qs, ts = [0.0], [0.0]
    for onset, dur in sorted(chorale["fermatas"]):
        if onset < qs[-1]:
            continue
        ts.append(ts[-1] + (onset - qs[-1]) * sec_per_ql)
        qs.append(onset)
        ts.append(ts[-1] + dur * sec_per_ql * fermata_stretch)
        qs.append(onset + dur)
    end = max(chorale["length"], qs[-1]) + 1.0
    ts.append(ts[-1] + (end - qs[-1]) * sec_per_ql)
    qs.append(end)
    return np.asarray(qs), np.asarray(ts)


def arrange(chorale, rng, seconds):
    """Re-time, transpose and loop/cut a chorale to ``seconds``.

    Parameters
    ----------
    chorale : dict
        From :func:`load_chorale`.
    rng : numpy.random.Generator
    seconds : float
        Length of the track.

    Returns
    -------
    dict
        ``voices``: voice -> float array of shape (n_notes, 3) with columns
        start (s), end (s), MIDI pitch (transposed), sorted by start;
        ``phrase_ends``: array (n,) of the end times (s) of fermata notes;
        ``beats``: array (n_beats,) of beat times (s); ``downbeats``: array of
        bar start times (s); ``beats_per_bar``, ``tempo_bpm``, ``transpose``,
        ``name``.
    """
    tempo = float(rng.uniform(70.0, 140.0))          # quarter notes per minute
    transpose = int(rng.integers(-5, 7))
    stretch = float(rng.uniform(1.2, 2.0))           # fermatas held longer
    sec_per_ql = 60.0 / tempo
    qs, ts = _time_map(chorale, sec_per_ql, stretch)
    length_ql = chorale["length"]
    # Some chorales open with bars in which no voice sings (BWV 248.64 has 48
    # quarters of orchestral introduction): start, and repeat, at the first note,
    # or the song would begin with (or be) silence.
    lead = min((float(p[0][0]) for p in chorale["parts"].values() if len(p)), default=0.0)
    lead_s = float(np.interp(lead, qs, ts))
    piece_s = float(np.interp(length_ql, qs, ts)) - lead_s
    gap_s = float(rng.uniform(0.5, 1.5)) * sec_per_ql  # breath between repeats
    # Start at the top or at a random phrase (just after a fermata).
    starts = [lead] + [o + d for o, d in chorale["fermatas"] if lead < o + d < length_ql - 4]
    start_ql = starts[int(rng.integers(len(starts)))] if rng.random() < 0.5 else lead
    start_s = float(np.interp(start_ql, qs, ts))

    voices = {v: [] for v in VOICES}
    phrase_ends, beats, downbeats = [], [], []
    beat_ql = chorale["beat_ql"]
    bar_ql = beat_ql * chorale["beats_per_bar"]
    beat_grid = np.arange(0.0, length_ql, beat_ql)
    bar_grid = np.arange(chorale["bar_offset"] % bar_ql, length_ql, bar_ql)
    offset = -start_s
    first = True
    while offset < seconds:
        lo = start_ql if first else lead
        for v in VOICES:
            for onset, dur, pitch in chorale["parts"][v]:
                if onset < lo:
                    continue
                a = float(np.interp(onset, qs, ts)) + offset
                b = float(np.interp(onset + dur, qs, ts)) + offset
                if a < seconds - 0.05:
                    voices[v].append((a, min(b, seconds), pitch + transpose))
        for onset, dur in chorale["fermatas"]:
            if onset >= lo:
                phrase_ends.append(float(np.interp(onset + dur, qs, ts)) + offset)
        for q in beat_grid[beat_grid >= lo]:
            beats.append(float(np.interp(q, qs, ts)) + offset)
        for q in bar_grid[bar_grid >= lo]:
            downbeats.append(float(np.interp(q, qs, ts)) + offset)
        offset += piece_s + gap_s
        first = False

    def arr(x, cols):
        a = np.asarray(sorted(x), dtype=np.float64).reshape(-1, cols)
        return a

    return {
        "voices": {v: arr(voices[v], 3) for v in VOICES},
        "phrase_ends": np.asarray(sorted(t for t in phrase_ends if 0 < t < seconds)),
        "beats": np.asarray([t for t in beats if 0 <= t < seconds]),
        "downbeats": np.asarray([t for t in downbeats if 0 <= t < seconds]),
        "beats_per_bar": int(chorale["beats_per_bar"]),
        "tempo_bpm": tempo,
        "transpose": transpose,
        "name": chorale["name"],
    }
