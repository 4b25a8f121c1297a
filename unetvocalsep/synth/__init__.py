"""A synthetic multitrack corpus: sung melodies over a rendered band.

No real isolated singing can be had offline, so this package makes songs
whose stems are known exactly:

* vocals: real spoken syllables (KLettres, Italian and Spanish) re-pitched
  with the WORLD vocoder onto the soprano line of a Bach chorale
  (:mod:`.voice`);
* accompaniment: General MIDI instruments and drums rendered with
  FluidSynth, following the other voices of the chorale
  (:mod:`.accompaniment`);
* melodies and harmony: the music21 corpus (:mod:`.score`).

Every track depends only on ``(seed, index)``.  The files are 44.1 kHz
stereo float32 WAV with ``mixture == vocals + accompaniment`` exactly.

Examples
--------
>>> from unetvocalsep.synth import generate_track, generate_corpus
>>> track = generate_track(seed=1, index=0, seconds=10)   # doctest: +SKIP
>>> track["mixture"].shape                                 # doctest: +SKIP
(441000, 2)
>>> generate_corpus("corpus/train", tracks=100, seconds=30, seed=1, jobs=2)  # doctest: +SKIP
"""
import json
import os
import shutil
import tempfile

import numpy as np

from ..errors import UserError, describe_error
from .cache import default_cache_dir

#: Sample rate of the corpus (Hz).
FS = 44100
#: Stems written for every track.
STEM_NAMES = ("mixture", "vocals", "accompaniment")
#: Vocal-to-accompaniment RMS ratio range (dB).
VAR_RANGE_DB = (-8.0, 4.0)
#: Peak level of the mixture (dBFS).
PEAK_DBFS = -1.0
#: Shortest track that makes sense (s).
MIN_SONG_SECONDS = 1.0
#: Default location of the Debian klettres-data recordings.
KLETTRES_DIR = "/usr/share/klettres"

__all__ = ["generate_track", "generate_corpus", "write_track", "track_name",
           "check_requirements", "FS", "STEM_NAMES", "VAR_RANGE_DB"]


def track_name(seed, index):
    """Name of track ``index`` of the corpus made with ``seed``.

    Returns
    -------
    str
        ``synth_<seed>_<index:04d>``.
    """
    return f"synth_{seed}_{index:04d}"


def check_requirements(klettres_dir=KLETTRES_DIR, soundfonts=None, languages=None):
    """Check the Python packages and system data, or raise :class:`UserError`.

    Parameters
    ----------
    klettres_dir : str
    soundfonts : list of str or None
        Default: FluidR3_GM and TimGM6mb.
    languages : sequence of str or None
        KLettres languages to sing (default Italian and Spanish).

    Returns
    -------
    syllables : list of (str, str)
        The syllable recordings (language, path).
    soundfonts : list of str
    """
    from . import accompaniment, score, voice
    voice._pyworld()
    score._music21()
    if soundfonts is None:
        accompaniment.check_fluidsynth([accompaniment.FLUIDR3])
        soundfonts = accompaniment.default_soundfonts()
    accompaniment.check_fluidsynth(soundfonts)
    syllables = voice.find_syllables(klettres_dir, *(() if languages is None else (languages,)))
    return syllables, list(soundfonts)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def generate_track(seed, index, seconds, cache_dir=None, klettres_dir=KLETTRES_DIR,
                   soundfonts=None, _checked=None):
    """Make one synthetic song.

    Parameters
    ----------
    seed : int
        Corpus seed.
    index : int
        Track number; the result depends only on ``(seed, index, seconds)``
        and the installed data.
    seconds : float
        Track length.
    cache_dir : str, optional
        Analysis cache (default :func:`~.cache.default_cache_dir`).
    klettres_dir : str
    soundfonts : list of str, optional

    Returns
    -------
    dict
        ``mixture``, ``vocals``, ``accompaniment``: float32 arrays of shape
        (round(seconds * 44100), 2) with ``mixture == vocals + accompaniment``
        computed in float32; ``meta``: a JSON-serialisable dict (chorale,
        tempo, singer, band, ``var_db``, ``gain``, and ``notes``: the sung
        notes as [start s, end s, MIDI pitch]).
    """
    from . import accompaniment, score, singing, voice
    if seconds < MIN_SONG_SECONDS:
        raise UserError(f"--seconds must be at least {MIN_SONG_SECONDS}")
    cache_dir = cache_dir or default_cache_dir()
    syllables, soundfonts = _checked or check_requirements(klettres_dir, soundfonts)
    root = np.random.SeedSequence([int(seed), int(index)])
    s_score, s_voice, s_band, s_mix = (np.random.default_rng(s) for s in root.spawn(4))

    chorale = score.pick_chorale(s_score, cache_dir)
    arr = score.arrange(chorale, s_score, seconds)
    singer = voice.make_singer(s_voice, syllables)
    melody = voice.place_melody(arr["voices"]["soprano"], singer)
    vocals, sung = singing.render_vocals(melody, arr["phrase_ends"], seconds, s_voice,
                                       syllables, cache_dir, singer)
    acc, band = accompaniment.render_accompaniment(arr, s_band, seconds, soundfonts)

    var_db = float(s_mix.uniform(*VAR_RANGE_DB))
    rv, ra = _rms(vocals), _rms(acc)
    if ra == 0:
        raise RuntimeError("the accompaniment came out silent")  # a bug, not user input
    if rv > 0:
        vocals *= (ra / rv) * 10 ** (var_db / 20)
    # Fade both stems out over the last 50 ms (the cut is arbitrary).
    n_fade = min(int(0.05 * FS), len(acc))
    fade = np.linspace(1.0, 0.0, n_fade)[:, None]
    vocals[len(vocals) - n_fade:] *= fade
    acc[len(acc) - n_fade:] *= fade
    peak = np.abs(vocals + acc).max()
    gain = 10 ** (PEAK_DBFS / 20) / peak if peak > 0 else 1.0
    v32 = (vocals * gain).astype(np.float32)
    a32 = (acc * gain).astype(np.float32)
    m32 = v32 + a32
    sing = {k: v for k, v in singer.items() if k != "paths"}
    meta = {
        "name": track_name(seed, index), "seed": int(seed), "index": int(index),
        "seconds": float(seconds), "sample_rate": FS,
        "chorale": arr["name"], "tempo_bpm": arr["tempo_bpm"], "transpose": arr["transpose"],
        "singer": sing, "band": band, "var_db": var_db, "gain": float(gain),
        "notes": sung.round(6).tolist(),
    }
    return {"mixture": m32, "vocals": v32, "accompaniment": a32, "meta": meta}


def _complete(folder):
    return all(os.path.isfile(os.path.join(folder, f"{s}.wav")) for s in STEM_NAMES)


def write_track(out_dir, track, overwrite=False):
    """Write one track atomically as ``out_dir/<name>/{stem}.wav`` + ``meta.json``.

    The files are written into a temporary folder next to the final one,
    which is then renamed into place, so an interrupted run leaves no
    half-written track.

    Parameters
    ----------
    out_dir : str
    track : dict
        From :func:`generate_track`.
    overwrite : bool
        Replace an existing track folder.

    Returns
    -------
    str
        The track folder.
    """
    from scipy.io import wavfile
    name = track["meta"]["name"]
    final = os.path.join(out_dir, name)
    if os.path.exists(final) and not overwrite:
        raise UserError(f"{final} exists (use --overwrite to replace it)")
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=out_dir)
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a track folder is not
        for stem in STEM_NAMES:
            # scipy writes plain IEEE-float WAV (soundfile subtype FLOAT) with
            # no timestamped PEAK chunk, so the same seed gives the same bytes.
            wavfile.write(os.path.join(tmp, f"{stem}.wav"), track["meta"].get("sample_rate", FS),
                          np.ascontiguousarray(track[stem], dtype=np.float32))
        with open(os.path.join(tmp, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(track["meta"], f, indent=1)
        if os.path.exists(final):
            trash = tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=out_dir)
            os.replace(final, os.path.join(trash, name))
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            try:
                os.replace(tmp, final)
            except OSError as exc:  # appeared meanwhile: never replace it silently
                if os.path.isdir(final):
                    raise UserError(f"{final} exists (use --overwrite to replace it)") from exc
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _job(args):
    out_dir, seed, index, seconds, cache_dir, klettres_dir, soundfonts, overwrite, checked, \
        profile = args
    if profile is None:
        track = generate_track(seed, index, seconds, cache_dir, klettres_dir, soundfonts,
                               _checked=checked)
    else:
        from .realmix import generate_song
        track = generate_song(seed, index, seconds, profile, cache_dir, _checked=checked)
    name = track["meta"]["name"]
    if not overwrite and _complete(os.path.join(out_dir, name)):
        return name  # another run on the same folder made it meanwhile (same bytes)
    write_track(out_dir, track, overwrite=overwrite)
    return name


# Worker processes come from unetvocalsep.parallel.process_pool: spawned, not
# forked (a fork of a process that has already run FluidSynth/OpenBLAS threads,
# such as a notebook or pytest, can deadlock), and ended with this process.
# The command line always works in spawned workers, even with ``-j 1``: the
# calling process may carry floating-point state (flush-to-zero set by some
# library loaded earlier, e.g. in a test session or notebook) that changes
# FluidSynth's and WORLD's last bits, and a fresh process makes the output
# depend on the seed only.


def _warm_cache(syllables, cache_dir, jobs):
    """Analyse all syllables up front (in parallel), so workers never race."""
    from . import voice
    paths = [p for _, p in syllables]
    if jobs >= 1:
        from ..parallel import process_pool
        with process_pool(jobs) as ex:
            list(ex.map(voice.analyse_syllable, paths, [cache_dir] * len(paths),
                        chunksize=8))
    else:
        for p in paths:
            voice.analyse_syllable(p, cache_dir)


def _track_result(get, seed, index, profile):
    """The name a finished track job returns (``get()``), or one error line that names the track.

    The pool (and with it the tracks still running) is ended by
    :func:`unetvocalsep.parallel.each` when this raises; tracks already
    written are complete and a rerun skips them.
    """
    try:
        return get()
    except (UserError, OSError, MemoryError) as exc:
        name = _name_of(seed, index, profile)
        raise UserError(f"track {name}: {describe_error(exc)}") from None
    except Exception as exc:   # a bug: say which track, and how to report it
        name = _name_of(seed, index, profile)
        raise UserError(f"track {name} failed with an internal error ({type(exc).__name__}: "
                        f"{exc}); tracks already written are kept, and a rerun continues "
                        f"after them; please report it with --seed {seed} --first "
                        f"{index}") from None


def _name_of(seed, index, profile):
    if profile is None:
        return track_name(seed, index)
    from .realmix import track_name as real_name
    return real_name(profile, seed, index)


def generate_corpus(out_dir, tracks, seconds, seed, jobs=1, overwrite=False,
                    cache_dir=None, klettres_dir=KLETTRES_DIR, soundfonts=None,
                    progress=True, languages=None, profile=None, first=0):
    """Make a corpus of ``tracks`` songs, resuming where a previous run stopped.

    Parameters
    ----------
    out_dir : str
    tracks : int
        Number of tracks (indices ``0 .. tracks-1``).
    seconds : float
        Length of each track.
    seed : int
    jobs : int
        Worker processes; the output does not depend on it.
    overwrite : bool
        Regenerate tracks that already exist (otherwise they are skipped).
    cache_dir : str, optional
    klettres_dir : str
    soundfonts : list of str, optional
    progress : bool
        Show a tqdm progress bar counting tracks.
    languages : sequence of str, optional
        KLettres languages of the synthetic songs (default Italian and Spanish).
    profile : str, optional
        Make songs over real music (:mod:`.realmix`) with this profile
        (``train``, ``leak`` or ``voice``) instead of synthetic songs; those
        are 16 kHz mono.
    first : int
        Index of the first track (to extend a corpus with new songs).

    Returns
    -------
    dict
        ``written`` and ``skipped``: lists of track names.
    """
    if tracks < 1:
        raise UserError("--tracks must be at least 1")
    if jobs < 1:
        raise UserError("--jobs must be at least 1")
    if not seconds >= MIN_SONG_SECONDS:
        raise UserError(f"--seconds must be at least {MIN_SONG_SECONDS}")
    if seed < 0:
        raise UserError("--seed must be >= 0")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError(f"{out_dir} exists and is not a folder")
    cache_dir = cache_dir or default_cache_dir()
    if profile is None:
        checked = check_requirements(klettres_dir, soundfonts, languages)
        name_of = lambda i: track_name(seed, i)  # noqa: E731
        to_analyse = checked[0]
    else:
        from . import realmix
        checked = realmix.check_requirements(profile, klettres_dir, cache_dir)
        name_of = lambda i: realmix.track_name(profile, seed, i)  # noqa: E731
        to_analyse = checked["syllables"]
        soundfonts = checked["soundfonts"]
    os.makedirs(out_dir, exist_ok=True)
    todo, skipped = [], []
    for i in range(first, first + tracks):
        folder = os.path.join(out_dir, name_of(i))
        if os.path.exists(folder) and not overwrite:
            if not _complete(folder):
                raise UserError(f"{folder} exists but is incomplete "
                                "(use --overwrite to regenerate it)")
            skipped.append(name_of(i))
        else:
            todo.append(i)
    from tqdm import tqdm
    bar = tqdm(total=tracks, initial=len(skipped), unit="track", disable=not progress,
               desc="synth")
    written = []
    try:
        if todo:   # in spawned workers even for -j 1 (see the note above _warm_cache)
            from ..parallel import each
            _warm_cache(to_analyse, cache_dir, min(jobs, len(todo)))
            sfs = checked[1] if profile is None else soundfonts
            args = [(out_dir, seed, i, seconds, cache_dir, klettres_dir, sfs, overwrite,
                     checked, profile) for i in todo]
            for a, get in each(_job, args, max(1, min(jobs, len(todo)))):
                written.append(_track_result(get, seed, a[2], profile))
                bar.update(1)
    finally:
        bar.close()
    return {"written": sorted(written), "skipped": skipped}
