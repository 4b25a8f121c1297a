"""Build the training cache from multitrack datasets: ``python -m unetvocalsep.prepare``.

:func:`prepare_track` turns one :class:`~unetvocalsep.training.tracks.Track` into
cache entries (the article's normalisation: the 16 kHz mono magnitudes of
mix, vocals and accompaniment all divided by the mix's maximum; see
:mod:`unetvocalsep.training.cache` for the format), and :func:`prepare` runs a
whole dataset, in parallel and resumably.  The readers are in
:mod:`unetvocalsep.training.datasets`, the decoding in :mod:`unetvocalsep.training.stems`, and
docs/DATASETS.md has the layouts and stem rules.
"""
import dataclasses
import errno
import functools
import json
import os
import sys
from typing import Optional

import numpy as np

from .. import constants
from ..resampling import to_mono16
from .datasets import random_mixes, read_dataset
from ..errors import UserError, describe_os_error
from ..spectrogram import normalise, spectrogram
from .pairs import MAX_OFFSET_S as MAX_PAIR_OFFSET_S
from .stems import match_lengths


def make_pair_example(mixture, instrumental, sr):
    """Cache array of a song/instrumental pair: vocal magnitude = max(0, |mix| - |inst|).

    Parameters
    ----------
    mixture, instrumental : numpy.ndarray, shape (channels, samples) or (samples,)
        Aligned, same length.
    sr : int

    Returns
    -------
    numpy.ndarray, shape (3, 513, frames), float32
        ``[mix, vocal, inst]`` all divided by the maximum of the mix.
    """
    mix = spectrogram(np.atleast_2d(mixture), sr)[0]
    inst = spectrogram(np.atleast_2d(instrumental), sr)[0]
    voc = np.maximum(mix - inst, 0)
    mix, peak = normalise(mix)
    return np.stack([mix, normalise(voc, peak)[0], normalise(inst, peak)[0]])


def augment_names(name, pitch_shifts=(), time_stretches=()):
    """Cache names of a track and its augmented copies.

    Parameters
    ----------
    name : str
    pitch_shifts : sequence of float
        Semitones.
    time_stretches : sequence of float
        Rates (``> 1`` is faster).

    Returns
    -------
    list of (str, str or None, float or None)
        ``(cache_name, kind, amount)``; the first entry is the track itself
        (``kind`` None), then ``'pitch'`` and ``'stretch'`` copies.
    """
    out = [(name, None, None)]
    out += [(f"{name}_pitch{s:+g}", "pitch", float(s)) for s in pitch_shifts]
    out += [(f"{name}_stretch{r:g}", "stretch", float(r)) for r in time_stretches]
    return out


def _augment(y, kind, amount):
    import warnings

    import librosa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "pitch":
            return librosa.effects.pitch_shift(y, sr=constants.SR, n_steps=amount).astype(np.float32)
        return librosa.effects.time_stretch(y, rate=amount).astype(np.float32)


def make_examples(stems, pitch_shifts=(), time_stretches=(), wanted=None):
    """Cache arrays of a track and of its pitch-shifted / time-stretched copies.

    Parameters
    ----------
    stems : Stems
    pitch_shifts, time_stretches : sequence of float
        See :func:`augment_names`. A copy transforms the vocals and the
        accompaniment and sums them into its mixture (pairs: the mixture and
        the instrumental), at 16 kHz with ``librosa.effects``.
    wanted : set of int or None
        Indices (into :func:`augment_names`) to compute; ``None``: all.

    Returns
    -------
    list of (int, numpy.ndarray)
        ``(index, array (3, 513, frames) float32)``.
    """
    from .cache import make_example

    specs = augment_names("", pitch_shifts, time_stretches)
    out = []
    base16 = None
    for k, (_, kind, amount) in enumerate(specs):
        if wanted is not None and k not in wanted:
            continue
        if kind is None:
            if stems.vocals is None:
                arr = make_pair_example(stems.mixture, stems.accompaniment, stems.sr)
            else:
                arr = make_example(stems.mixture, stems.vocals, stems.sr, stems.accompaniment)
        else:
            if base16 is None:
                if stems.vocals is None:
                    base16 = (to_mono16(stems.mixture, stems.sr)[0], to_mono16(stems.accompaniment, stems.sr)[0])
                else:
                    base16 = (to_mono16(stems.vocals, stems.sr)[0], to_mono16(stems.accompaniment, stems.sr)[0])
            a, b = (_augment(x, kind, amount) for x in base16)
            n = min(len(a), len(b))
            a, b = a[:n], b[:n]
            if stems.vocals is None:
                arr = make_pair_example(a, b, constants.SR)
            else:
                arr = make_example(a + b, a, constants.SR, b)
        out.append((k, arr))
    return out


#: What became of a track: cache entries written, already there, skipped by its
#: reader (an instrumental MedleyDB track, a song without instrumental), or failed.
PREPARED, EXISTS, SKIPPED, FAILED = "prepared", "exists", "skipped", "failed"


@dataclasses.dataclass
class TrackResult:
    """What :func:`prepare_track` did with one track.

    Attributes
    ----------
    name : str
    status : str
        :data:`PREPARED`, :data:`EXISTS`, :data:`SKIPPED` or :data:`FAILED`.
    error : str or None
        Why it was skipped or failed.
    outputs : list of str
        Cache entries written.
    warnings : list of str
    meta : dict
        What went into the main entry's JSON.
    frames : int
        Frames written.
    """

    name: str
    status: str = FAILED
    error: Optional[str] = None
    outputs: list = dataclasses.field(default_factory=list)
    warnings: list = dataclasses.field(default_factory=list)
    meta: dict = dataclasses.field(default_factory=dict)
    frames: int = 0


def prepare_track(track, cache_dir, overwrite=False, pitch_shifts=(), time_stretches=()):
    """Decode one track and write its cache entries.

    Parameters
    ----------
    track : Track
    cache_dir : str
    overwrite : bool
        Recompute entries that exist.
    pitch_shifts, time_stretches : sequence of float

    Returns
    -------
    TrackResult
    """
    from .cache import save_example

    result = TrackResult(track.name)
    if track.skipped:
        result.status, result.error = SKIPPED, track.info.get("skip", "skipped")
        return result
    names = augment_names(track.name, pitch_shifts, time_stretches)
    paths = [os.path.join(cache_dir, n + ".npy") for n, _, _ in names]
    collision = _collision(cache_dir, track)
    if collision:
        result.error = collision
        return result
    wanted = {k for k, p in enumerate(paths) if overwrite or not os.path.exists(p)}
    if not wanted:
        result.status = EXISTS
        return result
    try:
        stems = track.load()
        meta = dict(track.info)
        meta.update({k: v for k, v in stems.meta.items() if k != "warnings"})
        warns = list(stems.meta.get("warnings", []))
        if stems.vocals is not None:
            parts, w = match_lengths([stems.mixture, stems.vocals, stems.accompaniment], stems.sr,
                                     "mixture, vocals, accompaniment")
            if w:
                warns.append(w)
            stems = stems._replace(mixture=parts[0], vocals=parts[1], accompaniment=parts[2])
        meta.update(sr=int(stems.sr), seconds=round(stems.mixture.shape[-1] / stems.sr, 3))
        if warns:
            meta["warnings"] = warns
        for k, arr in make_examples(stems, pitch_shifts, time_stretches, wanted):
            name, kind, amount = names[k]
            m = dict(meta)
            if kind:
                m["augmentation"] = {"kind": kind, "amount": amount, "of": track.name}
            result.outputs.append(save_example(cache_dir, name, arr, m))
            result.frames += int(arr.shape[2])
        result.status, result.warnings, result.meta = PREPARED, warns, meta
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
        result.error = describe_os_error(exc)
    except MemoryError:
        result.error = "out of memory"
    except UserError as exc:
        result.error = str(exc)
    except Exception as exc:  # one bad track must not stop the others
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _collision(cache_dir, track):
    """A message when the cache already holds a *different* track under this name."""
    meta_path = os.path.join(cache_dir, track.name + ".json")
    if not os.path.isfile(meta_path):
        return None
    try:
        with open(meta_path) as f:
            old = json.load(f).get("source")
    except (OSError, ValueError):
        return None
    new = track.info.get("source")
    if old and new and old != new:
        return (f"the cache already holds a different track named {track.name!r} (from {old}); "
                "use another -o folder or --prefix")
    return None


def prepare(dataset, root, cache_dir, split=None, random_mixes_n=0, seed=0, jobs=1,
            overwrite=False, pitch_shifts=(), time_stretches=(), csv_file=None,
            metadata_dir=None, prefix="", max_offset_s=MAX_PAIR_OFFSET_S, progress=True,
            log=None):
    """Prepare a whole dataset into a cache folder.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    root : str
    cache_dir : str
    split : str or None
    random_mixes_n : int
        Extra random re-mixes (drawn among this split's tracks only).
    seed : int
    jobs : int
        Tracks prepared in parallel (worker processes); 1: in this process.
    overwrite : bool
    pitch_shifts, time_stretches : sequence of float
    csv_file, metadata_dir : str or None
    prefix : str
        Prepended to every cache name.
    max_offset_s : float
    progress : bool
        A tqdm bar counting tracks.
    log : callable or None
        Receives each message line (default: print to stderr / stdout).

    Returns
    -------
    dict
        ``prepared``, ``existing``, ``skipped`` (lists of names), ``failed``
        (list of ``(name, error)``), ``frames`` (written), ``results`` (one
        :class:`TrackResult` per track).
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise UserError(f"no such folder: {root}")
    if jobs < 1:
        raise UserError("-j must be at least 1")
    if any(r <= 0 for r in time_stretches):
        raise UserError("--time-stretch rates must be positive")
    tracks = read_dataset(dataset, root, split, csv_file, metadata_dir, max_offset_s)
    if random_mixes_n:
        if dataset == "pairs":
            raise UserError("--random-mixes needs isolated vocals, which song/instrumental pairs lack")
        tracks += random_mixes(tracks, random_mixes_n, seed)
    if prefix:
        tracks = [t._replace(name=prefix + t.name) for t in tracks]
    tracks = [t._replace(name=_safe_name(t.name)) for t in tracks]
    os.makedirs(cache_dir, exist_ok=True)

    def say(msg, err=False):
        if log is not None:
            log(msg)
            return
        try:
            from tqdm.auto import tqdm

            tqdm.write(msg, file=sys.stderr if err else sys.stdout)
        except ImportError:
            print(msg, file=sys.stderr if err else sys.stdout)

    summary = {"prepared": [], "existing": [], "skipped": [], "failed": [], "frames": 0, "results": []}

    def record(res):
        summary["results"].append(res)
        name = res.name
        if res.status == PREPARED:
            summary["prepared"].append(name)
            summary["frames"] += res.frames
            if "offset_s" in res.meta:
                say(f"{name}: instrumental offset {res.meta['offset_s']:+.3f} s "
                    f"({res.meta['offset_samples']:+d} samples at {constants.SR} Hz)")
            for w in res.warnings:
                say(f"warning: {name}: {w}", err=True)
        elif res.status == EXISTS:
            summary["existing"].append(name)
        elif res.status == SKIPPED:
            summary["skipped"].append(name)
            say(f"{name}: skipped ({res.error})", err=True)
        else:
            summary["failed"].append((name, res.error))
            say(f"error: {name}: {res.error}", err=True)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc=f"prepare {dataset}")
    work = functools.partial(prepare_track, cache_dir=cache_dir, overwrite=overwrite,
                             pitch_shifts=tuple(pitch_shifts), time_stretches=tuple(time_stretches))
    from ..parallel import each

    try:
        # -j 1 in this process; more: spawned workers that end with this one
        for t, get in each(work, tracks, 0 if jobs == 1 else jobs):
            try:
                res = get()
            except OSError:
                raise
            except Exception as exc:  # a worker died (killed, out of memory)
                if jobs == 1:
                    raise
                res = TrackResult(t.name, error=f"worker failed: {type(exc).__name__}: {exc}")
            record(res)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return summary


def _safe_name(name):
    name = name.replace(os.sep, "_").replace("/", "_").strip()
    return "_" + name if name.startswith(".") or not name else name


def format_summary(summary):
    """The one-line summary printed at the end.

    Parameters
    ----------
    summary : dict
        As returned by :func:`prepare`.

    Returns
    -------
    str
        ``prepared N, skipped M (already done K), failed F: names``.
    """
    n_prep = len(summary["prepared"])
    n_exist = len(summary["existing"])
    n_skip = len(summary["skipped"]) + n_exist
    failed = summary["failed"]
    hours = summary["frames"] * constants.HOP / constants.SR / 3600
    line = (f"prepared {n_prep} ({hours:.2f} h of audio written), skipped {n_skip} "
            f"(already done {n_exist}), failed {len(failed)}")
    if failed:
        line += ": " + ", ".join(name for name, _ in failed)
    return line
