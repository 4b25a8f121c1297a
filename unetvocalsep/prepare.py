"""Build the training cache from multitrack datasets: ``python -m unetvocalsep.prepare``.

Every dataset has one small reader function (``read_dsd100``, ``read_musdb18``,
``read_musdb18hq``, ``read_ikala``, ``read_medleydb``, ``read_pairs``,
``read_folder``). A reader yields :class:`Track` tuples ``(name, load, info)``;
``load()`` decodes the track and returns :class:`Stems`
``(mixture, vocals, accompaniment, sr, meta)``. :func:`prepare_track` turns one
track into cache entries (see :mod:`unetvocalsep.dataset` for the format) and
:func:`prepare` runs a whole dataset, in parallel, resumably.

What goes into the cache (all datasets)
---------------------------------------
The article's normalisation: the 16 kHz mono magnitudes of mix, vocals and
accompaniment are all divided by the maximum of the mix magnitude.

- **DSD100**, **MUSDB18-HQ**: mixture = ``mixture.wav``; vocals = ``vocals.wav``;
  accompaniment = bass + drums + other.
- **MUSDB18** (``.stem.mp4``, AAC): mixture = stream 0, vocals = stream 4,
  accompaniment = streams 1 + 2 + 3 (drums, bass, other). The AAC-coded mixture
  is not exactly the sum of the AAC-coded stems (each stream carries its own
  coding noise); the difference is measured and stored in the track's JSON as
  ``mixture_vs_stems_db`` (residual energy relative to the mixture). The
  mixture stream is used as the input because that is what a user's song
  looks like; the stems are the targets.
- **iKala**: left channel = accompaniment, right channel = vocals,
  mixture = left + right.
- **MedleyDB**: mixture = ``<Track>_MIX.wav``; vocals = sum of the stems whose
  ``instrument`` label (a string or a list) is one of
  :data:`MEDLEYDB_VOCAL_INSTRUMENTS`; accompaniment = sum of all other stems.
  (The sum of the other stems, not ``mix - vocals``, so a vocal stem mixed at a
  different gain than its file never leaks into the accompaniment target.)
  Tracks whose metadata says ``instrumental: yes`` are skipped, and so are
  tracks with no stem labelled as a voice.
- **pairs** (song + instrumental): the two files are aligned by FFT
  cross-correlation of their 16 kHz mono signals (:func:`find_offset`), cut to
  their overlap, and the vocal magnitude is ``max(0, |mix| - |inst|)``
  (:func:`make_pair_example`).
- **folder**: ``<track>/mixture.*``, ``vocals.*`` and optionally
  ``accompaniment.*`` (the layout of ``python -m unetvocalsep.synth``). A missing
  accompaniment is ``mixture - vocals``; a missing mixture is ``vocals +
  accompaniment``.

Stems are downmixed to mono when loaded (the network is mono, and the
article's ``LoadAudio`` averages the channels too); that halves the memory a
track needs.
"""
import csv
import errno
import functools
import glob
import json
import os
import shutil
import subprocess
import sys
from typing import Callable, NamedTuple, Optional

import numpy as np

from . import config
from .audio import to_mono16
from .errors import UserError

#: The datasets ``prepare`` reads.
DATASETS = ("dsd100", "musdb18", "musdb18hq", "ikala", "medleydb", "pairs", "folder")

#: The 14 MUSDB18 training tracks held out for validation. Copied from the
#: ``musdb`` package (version 0.4.3), file ``musdb/configs/mus.yaml``, key
#: ``validation_tracks``; they live in the ``train`` folder.
MUSDB_VALIDATION_TRACKS = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)

#: Stream order of a MUSDB18 ``.stem.mp4`` (``musdb/configs/mus.yaml``, ``stem_ids``).
MUSDB_STREAMS = ("mixture", "drums", "bass", "other", "vocals")

#: MedleyDB ``instrument`` labels counted as vocals (lower case). These are the
#: voice labels of the MedleyDB taxonomy that carry singing, rap or speech.
#: "beatboxing" (vocal percussion), "crowd" and "whistle" are *not* vocals here:
#: they go to the accompaniment, as a percussion or ambience part would.
MEDLEYDB_VOCAL_INSTRUMENTS = frozenset({
    "female singer", "male singer", "male rapper", "female rapper",
    "male speaker", "female speaker", "vocalists", "choir",
})

#: Splits each dataset has, and the default one.
SPLITS = {
    "dsd100": ("dev", "test", "all"),
    "musdb18": ("train", "valid", "test", "train+valid", "all"),
    "musdb18hq": ("train", "valid", "test", "train+valid", "all"),
}
DEFAULT_SPLIT = {"dsd100": "dev", "musdb18": "train", "musdb18hq": "train"}

#: Stems of one track may differ in length by up to this many seconds, or by
#: this fraction of the track, whichever is larger; they are then cut to the
#: shortest with a warning. A larger difference makes the track fail.
LENGTH_TOLERANCE_S = 0.1
LENGTH_TOLERANCE_FRACTION = 0.01

#: Largest offset searched when aligning a song with its instrumental (seconds).
MAX_PAIR_OFFSET_S = 10.0

#: Random mixes scale the vocals by a gain drawn uniformly in +-this many dB.
RANDOM_MIX_GAIN_DB = 3.0

#: File extensions taken as audio when scanning folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".aif", ".aiff", ".opus")


class TrackError(UserError):
    """One track cannot be prepared (missing stem, unreadable file, ...)."""


class Stems(NamedTuple):
    """The decoded waveforms of one track.

    Attributes
    ----------
    mixture : numpy.ndarray, shape (channels, samples), float32
    vocals : numpy.ndarray, shape (channels, samples), float32, or None
        ``None`` for song/instrumental pairs (no isolated vocals).
    accompaniment : numpy.ndarray, shape (channels, samples), float32
    sr : int
    meta : dict
        Facts to store in the track's JSON (``warnings``, offsets, ...).
    """

    mixture: np.ndarray
    vocals: Optional[np.ndarray]
    accompaniment: np.ndarray
    sr: int
    meta: dict


class Track(NamedTuple):
    """One entry of a dataset.

    Attributes
    ----------
    name : str
        Cache name (``<name>.npy``).
    load : callable or None
        ``load()`` returns :class:`Stems`; ``None`` when the track is skipped.
    info : dict
        ``dataset``, ``split``, ``source`` and, for skipped tracks, ``skip``
        (the reason).
    """

    name: str
    load: Optional[Callable[[], Stems]]
    info: dict


# --------------------------------------------------------------------------
# loading helpers


def _load(path, mono=True):
    """Load one file, turning every failure into a :class:`TrackError` naming it."""
    from .audio import load_audio

    if not os.path.isfile(path):
        raise TrackError(f"missing file {path}")
    try:
        return load_audio(path, mono=mono)
    except UserError as exc:
        raise TrackError(str(exc)) from None
    except Exception as exc:  # a decoder's own exception: still just this track
        raise TrackError(f"cannot read {path}: {exc}") from None


def match_lengths(arrays, sr, what=""):
    """Cut waveforms to a common length, failing when they differ too much.

    Parameters
    ----------
    arrays : list of numpy.ndarray, each (channels, samples)
    sr : int
    what : str
        Names of the arrays, for the messages.

    Returns
    -------
    arrays : list of numpy.ndarray, each (channels, n)
        ``n`` is the shortest length.
    warning : str or None
        Set when something was cut.

    Raises
    ------
    TrackError
        When the lengths differ by more than ``max(LENGTH_TOLERANCE_S,
        LENGTH_TOLERANCE_FRACTION * longest)``.
    """
    lengths = [a.shape[-1] for a in arrays]
    n, m = min(lengths), max(lengths)
    if n == m:
        return list(arrays), None
    tol = max(LENGTH_TOLERANCE_S * sr, LENGTH_TOLERANCE_FRACTION * m)
    detail = f"{what + ': ' if what else ''}lengths {', '.join(str(x) for x in lengths)} samples at {sr} Hz"
    if m - n > tol:
        raise TrackError(f"stems differ in length by {(m - n) / sr:.3f} s ({detail})")
    return [a[..., :n] for a in arrays], f"cut {(m - n) / sr:.3f} s to the shortest stem ({detail})"


def _load_group(paths, mono=True):
    """Load files that must share one sample rate; returns (arrays, sr)."""
    arrays, rates = [], []
    for p in paths:
        y, sr = _load(p, mono=mono)
        arrays.append(y)
        rates.append(sr)
    if len(set(rates)) > 1:
        listing = ", ".join(f"{os.path.basename(p)} {r} Hz" for p, r in zip(paths, rates))
        raise TrackError(f"sample rates differ ({listing})")
    return match_channels(arrays), rates[0]


def match_channels(arrays):
    """Spread mono arrays over the channel count of the others.

    Parameters
    ----------
    arrays : list of numpy.ndarray, shape (channels, samples)

    Returns
    -------
    list of numpy.ndarray, shape (C, samples)
        ``C`` is the largest channel count; mono arrays are repeated.

    Raises
    ------
    TrackError
        For two different multichannel counts.
    """
    c = max(a.shape[0] for a in arrays)
    out = []
    for a in arrays:
        if a.shape[0] != c:
            if a.shape[0] != 1:
                raise TrackError(f"files with {a.shape[0]} and {c} channels in one track")
            a = np.repeat(a, c, axis=0)
        out.append(a)
    return out


def load_stems(mixture=None, vocals=(), accompaniment=None, mono=True):
    """Load a track from stem files.

    Parameters
    ----------
    mixture : str or None
        Mixture file; ``None``: the sum of vocals and accompaniment.
    vocals : sequence of str
        Files summed into the vocals (at least one).
    accompaniment : sequence of str or None
        Files summed into the accompaniment; ``None``: ``mixture - vocals``;
        an empty sequence: silence.
    mono : bool
        Mix every file down to one channel (the network's input); ``False``
        keeps the channels (for scoring at the original rate).

    Returns
    -------
    Stems
        Waveforms, shape (1, samples) when ``mono`` else (channels, samples),
        at the files' sample rate.
    """
    vocals = list(vocals)
    if not vocals:
        raise TrackError("no vocal stem")
    acc = list(accompaniment) if accompaniment is not None else None
    if mixture is None and acc is None:
        raise TrackError("neither a mixture nor an accompaniment")
    paths = ([mixture] if mixture else []) + vocals + (acc or [])
    arrays, sr = _load_group(paths, mono=mono)
    names = [os.path.basename(p) for p in paths]
    arrays, warning = match_lengths(arrays, sr, ", ".join(names))
    mix = arrays.pop(0) if mixture else None
    voc = np.sum(arrays[:len(vocals)], axis=0, dtype=np.float32)
    if acc is None:
        accomp = mix - voc
    elif acc:
        accomp = np.sum(arrays[len(vocals):], axis=0, dtype=np.float32)
    else:
        accomp = np.zeros_like(voc)
    if mix is None:
        mix = voc + accomp
    return Stems(mix, voc, accomp, sr, {"warnings": [warning] if warning else []})


def _ffmpeg(name):
    exe = shutil.which(name)
    if exe is None:
        raise UserError(f"{name} not found on PATH; it decodes MUSDB18 .stem.mp4 files "
                        "(Debian/Ubuntu: apt-get install ffmpeg)")
    return exe


def probe_streams(path):
    """Sample rate and channel count of every audio stream of a file (ffprobe).

    Parameters
    ----------
    path : str

    Returns
    -------
    list of (int, int)
        ``(sample_rate, channels)`` per audio stream, in stream order.
    """
    cmd = [_ffmpeg("ffprobe"), "-v", "error", "-select_streams", "a",
           "-show_entries", "stream=sample_rate,channels", "-of", "json", path]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise TrackError(f"cannot read {path}: {res.stderr.strip().splitlines()[-1:] or 'ffprobe failed'}")
    streams = json.loads(res.stdout or "{}").get("streams", [])
    return [(int(s["sample_rate"]), int(s["channels"])) for s in streams]


def decode_stream(path, index, sr, mono=True):
    """Decode one audio stream of a file with ffmpeg (as stereo), float32.

    Parameters
    ----------
    path : str
    index : int
        Audio stream number (``-map 0:a:index``).
    sr : int
        Output sample rate (the stream's own rate: no resampling).
    mono : bool
        Return the average of the two channels.

    Returns
    -------
    numpy.ndarray, shape (1, samples) when ``mono`` else (2, samples), float32
    """
    cmd = [_ffmpeg("ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-map", f"0:a:{index}",
           "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "2", "-ar", str(sr), "-"]
    res = subprocess.run(cmd, capture_output=True)
    if res.returncode != 0:
        msg = res.stderr.decode(errors="replace").strip().splitlines()
        raise TrackError(f"cannot decode stream {index} of {path}: {msg[-1] if msg else 'ffmpeg failed'}")
    y = np.frombuffer(res.stdout, dtype="<f4")
    if y.size < 2:
        raise TrackError(f"stream {index} of {path} has no samples")
    y = y[: y.size // 2 * 2].reshape(-1, 2)
    if not mono:
        return np.ascontiguousarray(y.T)
    return np.ascontiguousarray(y.mean(axis=1, dtype=np.float32)[None, :])


def load_musdb_stem(path, mono=True):
    """Load a MUSDB18 ``.stem.mp4``.

    Parameters
    ----------
    path : str
    mono : bool
        Mix the streams down to one channel; ``False`` keeps stereo.

    Returns
    -------
    Stems
        mixture = stream 0, vocals = stream 4, accompaniment = streams 1+2+3,
        (1 or 2, samples), at the file's rate. ``meta['mixture_vs_stems_db']`` is the
        energy of ``mixture - (drums + bass + other + vocals)`` relative to the
        mixture (AAC coding noise).
    """
    if not os.path.isfile(path):
        raise TrackError(f"missing file {path}")
    streams = probe_streams(path)
    if len(streams) < len(MUSDB_STREAMS):
        raise TrackError(f"{path} has {len(streams)} audio streams, a MUSDB18 stem file has 5")
    rates = {s[0] for s in streams[:5]}
    if len(rates) > 1:
        raise TrackError(f"sample rates differ between the streams of {path}: {sorted(rates)}")
    sr = rates.pop()
    arrays = [decode_stream(path, i, sr, mono=mono) for i in range(len(MUSDB_STREAMS))]
    arrays, warning = match_lengths(arrays, sr, "streams " + ", ".join(MUSDB_STREAMS))
    mix, drums, bass, other, voc = arrays
    acc = drums + bass + other
    resid = mix - (acc + voc)
    e_mix = float(np.mean(np.square(mix, dtype=np.float64)))
    e_res = float(np.mean(np.square(resid, dtype=np.float64)))
    ratio = 10 * np.log10(max(e_res, 1e-20) / max(e_mix, 1e-20))
    meta = {"warnings": [warning] if warning else [], "mixture_vs_stems_db": round(float(ratio), 2)}
    if ratio > -10:
        meta["warnings"].append(f"the mixture stream differs from the sum of the stems by {ratio:.1f} dB")
    return Stems(mix, voc, acc, sr, meta)


def load_ikala(path):
    """Load an iKala clip: left channel = accompaniment, right = vocals.

    Parameters
    ----------
    path : str

    Returns
    -------
    Stems
        Each waveform shape (1, samples); mixture = left + right.
    """
    y, sr = _load(path, mono=False)
    if y.shape[0] != 2:
        raise TrackError(f"{path} has {y.shape[0]} channel(s); iKala clips are stereo "
                         "(left accompaniment, right vocals)")
    acc, voc = y[0:1], y[1:2]
    return Stems(acc + voc, voc, acc, sr, {"warnings": []})


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


def align_pair(mixture, instrumental, lag):
    """Shift a song and its instrumental by ``lag`` and cut them to their overlap.

    Parameters
    ----------
    mixture, instrumental : numpy.ndarray, shape (..., samples)
    lag : int
        As returned by :func:`find_offset`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Both shape (..., n), sample ``i`` of one matching sample ``i`` of the other.
    """
    if lag > 0:
        mixture = mixture[..., lag:]
    elif lag < 0:
        instrumental = instrumental[..., -lag:]
    n = min(mixture.shape[-1], instrumental.shape[-1])
    return mixture[..., :n], instrumental[..., :n]


def load_pair(song, instrumental, max_offset_s=MAX_PAIR_OFFSET_S):
    """Load and align a song and its instrumental version.

    Parameters
    ----------
    song, instrumental : str
    max_offset_s : float

    Returns
    -------
    Stems
        16 kHz mono, ``vocals`` is ``None``; ``meta['offset_s']`` /
        ``meta['offset_samples']`` (at 16 kHz) is the lag found by
        :func:`find_offset` (positive: the song starts later).
    """
    from .audio import resample

    (mix, sr_m), (inst, sr_i) = _load(song), _load(instrumental)
    mix, inst = resample(mix, sr_m, config.SR), resample(inst, sr_i, config.SR)
    lag = find_offset(mix[0], inst[0], int(round(max_offset_s * config.SR)))
    mix_a, inst_a = align_pair(mix, inst, lag)
    if mix_a.shape[-1] < config.N_FFT:
        raise TrackError("the song and its instrumental do not overlap")
    meta = {"warnings": [], "offset_s": lag / config.SR, "offset_samples": lag,
            "instrumental": os.path.abspath(instrumental),
            "overlap_s": mix_a.shape[-1] / config.SR}
    if mix_a.shape[-1] < 0.5 * mix.shape[-1]:
        meta["warnings"].append(f"the instrumental covers only {mix_a.shape[-1] / mix.shape[-1]:.0%} of the song")
    return Stems(mix_a, None, inst_a, config.SR, meta)


def load_random_mix(vocal_load, accompaniment_load, gain_db):
    """The vocals of one track over the accompaniment of another (the article's augmentation).

    Parameters
    ----------
    vocal_load, accompaniment_load : callable
        ``load`` functions of the two tracks (:class:`Track`).
    gain_db : float
        Gain applied to the vocals.

    Returns
    -------
    Stems
        16 kHz mono; both parts cut to the shorter one; mixture = vocals + accompaniment.
    """
    a = vocal_load()
    if a.vocals is None:
        raise TrackError("random mixes need isolated vocals")
    voc = to_mono16(a.vocals, a.sr) * np.float32(10 ** (gain_db / 20))
    del a
    b = accompaniment_load()
    acc = to_mono16(b.accompaniment, b.sr)
    del b
    n = min(voc.shape[-1], acc.shape[-1])
    voc, acc = voc[..., :n], acc[..., :n]
    return Stems(voc + acc, voc, acc, config.SR, {"warnings": [], "vocal_gain_db": round(float(gain_db), 3)})


def _fail(message):
    raise TrackError(message)


# --------------------------------------------------------------------------
# dataset readers


def _require_dir(root):
    if not os.path.isdir(root):
        raise UserError(f"no such folder: {root}")


def _subdirs(folder):
    return sorted(d for d in glob.glob(os.path.join(glob.escape(folder), "*")) if os.path.isdir(d))


def read_dsd100(root, split="dev"):
    """Tracks of DSD100 (``Mixtures/{Dev,Test}/<track>``, ``Sources/{Dev,Test}/<track>``).

    Parameters
    ----------
    root : str
        The ``DSD100`` folder.
    split : {'dev', 'test', 'all'}
        ``dev`` (50 tracks) is the training part.

    Yields
    ------
    Track
    """
    _require_dir(root)
    mixtures, sources = os.path.join(root, "Mixtures"), os.path.join(root, "Sources")
    if not (os.path.isdir(mixtures) and os.path.isdir(sources)):
        raise UserError(f"{root} is not a DSD100 folder (expected Mixtures/ and Sources/ with Dev/ and Test/)")
    subsets = {"dev": ["Dev"], "test": ["Test"], "all": ["Dev", "Test"]}[split]
    for sub in subsets:
        for d in _subdirs(os.path.join(mixtures, sub)):
            name = os.path.basename(d)
            src = os.path.join(sources, sub, name)
            load = functools.partial(
                load_stems, mixture=os.path.join(d, "mixture.wav"),
                vocals=[os.path.join(src, "vocals.wav")],
                accompaniment=[os.path.join(src, s + ".wav") for s in ("bass", "drums", "other")])
            yield Track(name, load, {"dataset": "dsd100", "split": sub, "source": os.path.abspath(d)})


def musdb_subsets(split):
    """Folders and validation filter of a MUSDB18 split.

    Parameters
    ----------
    split : {'train', 'valid', 'test', 'train+valid', 'all'}

    Returns
    -------
    list of (str, callable)
        ``(folder, keep)`` where ``keep(track_name)`` says whether a track of
        that folder belongs to the split. ``train`` never contains a track
        of :data:`MUSDB_VALIDATION_TRACKS`.
    """
    valid = set(MUSDB_VALIDATION_TRACKS)
    return {
        "train": [("train", lambda n: n not in valid)],
        "valid": [("train", lambda n: n in valid)],
        "train+valid": [("train", lambda n: True)],
        "test": [("test", lambda n: True)],
        "all": [("train", lambda n: True), ("test", lambda n: True)],
    }[split]


def _musdb_split_name(folder, name):
    return "valid" if folder == "train" and name in MUSDB_VALIDATION_TRACKS else folder


def _check_musdb_root(root, what):
    _require_dir(root)
    if not (os.path.isdir(os.path.join(root, "train")) or os.path.isdir(os.path.join(root, "test"))):
        raise UserError(f"{root} is not a {what} folder (expected train/ and test/)")


def read_musdb18hq(root, split="train"):
    """Tracks of MUSDB18-HQ (``{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav``).

    Parameters
    ----------
    root : str
    split : {'train', 'valid', 'test', 'train+valid', 'all'}
        ``train`` is the official training split without the 14 validation
        tracks; ``valid`` is those 14.

    Yields
    ------
    Track
    """
    _check_musdb_root(root, "MUSDB18-HQ")
    for folder, keep in musdb_subsets(split):
        for d in _subdirs(os.path.join(root, folder)):
            name = os.path.basename(d)
            if not keep(name):
                continue
            load = functools.partial(
                load_stems, mixture=os.path.join(d, "mixture.wav"),
                vocals=[os.path.join(d, "vocals.wav")],
                accompaniment=[os.path.join(d, s + ".wav") for s in ("drums", "bass", "other")])
            yield Track(name, load, {"dataset": "musdb18hq", "split": _musdb_split_name(folder, name),
                                     "source": os.path.abspath(d)})


def read_musdb18(root, split="train"):
    """Tracks of MUSDB18 (``{train,test}/<track>.stem.mp4``, decoded with ffmpeg).

    Parameters
    ----------
    root : str
    split : {'train', 'valid', 'test', 'train+valid', 'all'}
        As :func:`read_musdb18hq`.

    Yields
    ------
    Track
    """
    _check_musdb_root(root, "MUSDB18")
    _ffmpeg("ffmpeg"), _ffmpeg("ffprobe")
    for folder, keep in musdb_subsets(split):
        for f in sorted(glob.glob(os.path.join(glob.escape(os.path.join(root, folder)), "*.stem.mp4"))):
            name = os.path.basename(f)[: -len(".stem.mp4")]
            if not keep(name):
                continue
            yield Track(name, functools.partial(load_musdb_stem, f),
                        {"dataset": "musdb18", "split": _musdb_split_name(folder, name),
                         "source": os.path.abspath(f)})


def read_ikala(root):
    """Clips of iKala (``Wavfile/<id>.wav``; left accompaniment, right vocals).

    Parameters
    ----------
    root : str
        The ``iKala`` folder (or its ``Wavfile`` folder).

    Yields
    ------
    Track
    """
    _require_dir(root)
    wav = os.path.join(root, "Wavfile")
    if not os.path.isdir(wav):
        if os.path.basename(os.path.normpath(root)) == "Wavfile":
            wav = root
        else:
            raise UserError(f"{root} is not an iKala folder (expected Wavfile/<id>.wav)")
    for f in sorted(glob.glob(os.path.join(glob.escape(wav), "*.wav"))):
        name = os.path.splitext(os.path.basename(f))[0]
        yield Track(name, functools.partial(load_ikala, f),
                    {"dataset": "ikala", "split": "all", "source": os.path.abspath(f)})


def is_vocal_instrument(instrument):
    """The MedleyDB rule: is a stem with this ``instrument`` label a vocal stem?

    Parameters
    ----------
    instrument : str or list of str
        A stem's ``instrument`` value (MedleyDB 2 allows a list).

    Returns
    -------
    bool
        True when any label, lower-cased and stripped, is in
        :data:`MEDLEYDB_VOCAL_INSTRUMENTS`.
    """
    labels = instrument if isinstance(instrument, (list, tuple)) else [instrument]
    return any(str(x).strip().lower() in MEDLEYDB_VOCAL_INSTRUMENTS for x in labels if x is not None)


def _yes(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "true", "1", "y")


def medleydb_metadata_candidates(track_dir, root, metadata_dir=None):
    """Where a MedleyDB track's ``<Track>_METADATA.yaml`` may be, in search order.

    Parameters
    ----------
    track_dir : str
        ``Audio/<Track>``.
    root : str
        The folder given on the command line.
    metadata_dir : str or None
        An explicit metadata folder (``--metadata``).

    Returns
    -------
    list of str
        The track folder, ``metadata_dir``, ``ROOT/Metadata``, and a
        ``Metadata`` folder beside ``Audio``.
    """
    name = os.path.basename(track_dir)
    fname = f"{name}_METADATA.yaml"
    folders = [track_dir]
    if metadata_dir:
        folders.append(metadata_dir)
    audio_parent = os.path.dirname(os.path.dirname(os.path.abspath(track_dir)))
    folders += [os.path.join(root, "Metadata"), os.path.join(audio_parent, "Metadata")]
    out = []
    for f in folders:
        p = os.path.join(f, fname)
        if p not in out:
            out.append(p)
    return out


def medleydb_track(track_dir, yaml_path):
    """Parse one MedleyDB metadata file into a :class:`Track` (or a skipped one).

    Parameters
    ----------
    track_dir : str
    yaml_path : str

    Returns
    -------
    Track
        ``info['vocal_stems']`` lists the vocal stem ids; instrumental tracks
        and tracks without a vocal stem have ``load=None`` and ``info['skip']``.
    """
    import yaml

    name = os.path.basename(track_dir)
    info = {"dataset": "medleydb", "split": "all", "source": os.path.abspath(track_dir),
            "metadata": os.path.abspath(yaml_path)}
    try:
        with open(yaml_path, encoding="utf-8") as f:
            meta = yaml.safe_load(f)
        stems = meta["stems"] or {}
        stem_dir = os.path.join(track_dir, meta.get("stem_dir") or f"{name}_STEMS")
        mix = os.path.join(track_dir, meta.get("mix_filename") or f"{name}_MIX.wav")
        instrumental = _yes(meta.get("instrumental", "no"))
        entries = [(sid, os.path.join(stem_dir, s["filename"]), s.get("instrument"))
                   for sid, s in sorted(stems.items())]
    except Exception as exc:
        return Track(name, functools.partial(_fail, f"bad metadata {yaml_path}: {exc}"), info)
    if instrumental:
        return Track(name, None, dict(info, skip="instrumental"))
    vocal = [e for e in entries if is_vocal_instrument(e[2])]
    if not vocal:
        labels = sorted({str(x) for e in entries for x in (e[2] if isinstance(e[2], list) else [e[2]])})
        return Track(name, None, dict(info, skip=f"no stem labelled as a voice ({', '.join(labels)})"))
    info["vocal_stems"] = [e[0] for e in vocal]
    load = functools.partial(load_stems, mixture=mix, vocals=[e[1] for e in vocal],
                             accompaniment=[e[1] for e in entries if e not in vocal])
    return Track(name, load, info)


def read_medleydb(root, metadata_dir=None):
    """Tracks of MedleyDB (``Audio/<Track>/<Track>_MIX.wav``, ``_STEMS/``, ``_METADATA.yaml``).

    Parameters
    ----------
    root : str
        The folder holding ``Audio/`` (or the ``Audio`` folder itself).
    metadata_dir : str or None
        Folder of ``<Track>_METADATA.yaml`` files, when they are neither in
        the track folders nor in a ``Metadata`` folder beside ``Audio``.

    Yields
    ------
    Track
        Instrumental tracks come with ``load=None`` (skipped).
    """
    _require_dir(root)
    audio = os.path.join(root, "Audio")
    if not os.path.isdir(audio):
        audio = root
    tracks = [d for d in _subdirs(audio) if glob.glob(os.path.join(glob.escape(d), "*_MIX.*"))
              or glob.glob(os.path.join(glob.escape(d), "*_METADATA.yaml"))]
    if not tracks:
        raise UserError(f"{root} is not a MedleyDB folder (expected Audio/<Track>/<Track>_MIX.wav)")
    for d in tracks:
        found = [p for p in medleydb_metadata_candidates(d, root, metadata_dir) if os.path.isfile(p)]
        if not found:
            name = os.path.basename(d)
            yield Track(name, functools.partial(
                _fail, f"no {name}_METADATA.yaml in the track folder or a Metadata/ folder "
                       "(use --metadata DIR)"),
                {"dataset": "medleydb", "split": "all", "source": os.path.abspath(d)})
            continue
        yield medleydb_track(d, found[0])


def _audio_files(folder):
    return sorted(f for f in glob.glob(os.path.join(glob.escape(folder), "*"))
                  if os.path.isfile(f) and os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS)


def read_pairs(root, csv_file=None, max_offset_s=MAX_PAIR_OFFSET_S):
    """Song + instrumental pairs.

    Parameters
    ----------
    root : str
        A folder of ``<name>.<ext>`` and ``<name>_instrumental.<ext>``; with
        ``csv_file``, the folder relative paths in the CSV start from.
    csv_file : str or None
        A CSV with a header and the columns ``song`` and ``instrumental``.
    max_offset_s : float
        Alignment search range (seconds, each way).

    Yields
    ------
    Track
        A song without an instrumental comes with ``load=None`` (skipped).
    """
    _require_dir(root)
    pairs = []
    if csv_file:
        if not os.path.isfile(csv_file):
            raise UserError(f"no such CSV file: {csv_file}")
        with open(csv_file, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"song", "instrumental"} <= {c.strip() for c in reader.fieldnames}:
                raise UserError(f"{csv_file} needs a header with the columns song,instrumental")
            for row in reader:
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
                if not row.get("song"):
                    continue
                song, inst = (os.path.join(root, row[k]) for k in ("song", "instrumental"))
                pairs.append((os.path.splitext(os.path.basename(song))[0], song, inst if row["instrumental"] else None))
    else:
        files = _audio_files(root)
        by_stem = {}
        for f in files:
            by_stem.setdefault(os.path.splitext(os.path.basename(f))[0], f)
        for stem, f in sorted(by_stem.items()):
            if stem.endswith("_instrumental"):
                continue
            pairs.append((stem, f, by_stem.get(stem + "_instrumental")))
        if not pairs:
            raise UserError(f"no <name>.<ext> + <name>_instrumental.<ext> pairs in {root}")
    for name, song, inst in pairs:
        info = {"dataset": "pairs", "split": "all", "source": os.path.abspath(song)}
        if inst is None:
            yield Track(name, None, dict(info, skip="no instrumental"))
        else:
            yield Track(name, functools.partial(load_pair, song, inst, max_offset_s), info)


def read_folder(root):
    """Tracks laid out as ``<track>/{mixture,vocals[,accompaniment]}.<ext>``.

    Parameters
    ----------
    root : str

    Yields
    ------
    Track
    """
    _require_dir(root)

    def first(d, stem):
        found = [f for f in _audio_files(d) if os.path.splitext(os.path.basename(f))[0] == stem]
        return found[0] if found else None

    dirs = [d for d in _subdirs(root) if first(d, "vocals") or first(d, "mixture")]
    if not dirs:
        raise UserError(f"no <track>/mixture.* + vocals.* folders under {root}")
    for d in dirs:
        name = os.path.basename(d)
        mix, voc, acc = first(d, "mixture"), first(d, "vocals"), first(d, "accompaniment")
        info = {"dataset": "folder", "split": "all", "source": os.path.abspath(d)}
        if voc is None:
            load = functools.partial(_fail, f"no vocals file in {d}")
        elif mix is None and acc is None:
            load = functools.partial(_fail, f"neither mixture nor accompaniment in {d}")
        else:
            load = functools.partial(load_stems, mixture=mix, vocals=[voc],
                                     accompaniment=[acc] if acc else None)
        yield Track(name, load, info)


def read_dataset(dataset, root, split=None, csv_file=None, metadata_dir=None,
                 max_offset_s=MAX_PAIR_OFFSET_S):
    """All tracks of a dataset.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    root : str
    split : str or None
        See :data:`SPLITS`; ``None`` takes :data:`DEFAULT_SPLIT`.
    csv_file, metadata_dir, max_offset_s
        For ``pairs`` and ``medleydb``.

    Returns
    -------
    list of Track
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if split is not None and dataset not in SPLITS:
        raise UserError(f"--split applies to {', '.join(SPLITS)} only, not {dataset}")
    if dataset in SPLITS:
        split = split or DEFAULT_SPLIT[dataset]
        if split not in SPLITS[dataset]:
            raise UserError(f"{dataset} splits are {', '.join(SPLITS[dataset])}, not {split!r}")
    if csv_file and dataset != "pairs":
        raise UserError("--csv applies to pairs only")
    if dataset == "dsd100":
        tracks = read_dsd100(root, split)
    elif dataset == "musdb18":
        tracks = read_musdb18(root, split)
    elif dataset == "musdb18hq":
        tracks = read_musdb18hq(root, split)
    elif dataset == "ikala":
        tracks = read_ikala(root)
    elif dataset == "medleydb":
        tracks = read_medleydb(root, metadata_dir)
    elif dataset == "pairs":
        tracks = read_pairs(root, csv_file, max_offset_s)
    else:
        tracks = read_folder(root)
    tracks = list(tracks)
    if not tracks:
        raise UserError(f"no {dataset} tracks found under {root}"
                        + (f" for the split {split!r}" if split else ""))
    return tracks


def random_mixes(tracks, n, seed=0):
    """The article's augmentation: vocals of one track over the accompaniment of another.

    Parameters
    ----------
    tracks : list of Track
        Source tracks (skipped ones are ignored). Only these are drawn from,
        so random mixes of a training split never use a validation track.
    n : int
    seed : int
        The same ``tracks``, ``n`` and ``seed`` give the same mixes.

    Returns
    -------
    list of Track
        Named ``randmix-s<seed>-<k>``; ``info`` names the two source tracks
        and the vocal gain (uniform in +-:data:`RANDOM_MIX_GAIN_DB` dB).
    """
    usable = [t for t in tracks if t.load is not None]
    if n <= 0:
        return []
    if len(usable) < 2:
        raise UserError("--random-mixes needs at least two tracks")
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        i, j = rng.choice(len(usable), size=2, replace=False)
        gain = float(rng.uniform(-RANDOM_MIX_GAIN_DB, RANDOM_MIX_GAIN_DB))
        a, b = usable[int(i)], usable[int(j)]
        info = {"dataset": "random-mix", "split": a.info.get("split"),
                "source": f"vocals of {a.name} + accompaniment of {b.name}",
                "vocals_from": a.name, "accompaniment_from": b.name,
                "vocal_gain_db": round(gain, 3), "seed": seed}
        out.append(Track(f"randmix-s{seed}-{k:04d}",
                         functools.partial(load_random_mix, a.load, b.load, gain), info))
    return out


# --------------------------------------------------------------------------
# turning a track into cache entries


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
    from .spectrogram import normalise, spectrogram

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
            return librosa.effects.pitch_shift(y, sr=config.SR, n_steps=amount).astype(np.float32)
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
    from .dataset import make_example

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
                arr = make_pair_example(a, b, config.SR)
            else:
                arr = make_example(a + b, a, config.SR, b)
        out.append((k, arr))
    return out


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
    dict
        ``name``; ``status`` ('prepared', 'exists', 'skipped' or 'failed');
        ``outputs`` (paths written); ``error``; ``warnings``; ``meta`` (what
        went into the JSON of the main entry); ``frames`` written.
    """
    from .dataset import save_example

    result = {"name": track.name, "status": "failed", "outputs": [], "error": None,
              "warnings": [], "meta": {}, "frames": 0}
    if track.load is None:
        result.update(status="skipped", error=track.info.get("skip", "skipped"))
        return result
    names = augment_names(track.name, pitch_shifts, time_stretches)
    paths = [os.path.join(cache_dir, n + ".npy") for n, _, _ in names]
    collision = _collision(cache_dir, track)
    if collision:
        result["error"] = collision
        return result
    wanted = {k for k, p in enumerate(paths) if overwrite or not os.path.exists(p)}
    if not wanted:
        result["status"] = "exists"
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
            result["outputs"].append(save_example(cache_dir, name, arr, m))
            result["frames"] += int(arr.shape[2])
        result.update(status="prepared", warnings=warns, meta=meta)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise
        from .errors import describe_os_error

        result["error"] = describe_os_error(exc)
    except MemoryError:
        result["error"] = "out of memory"
    except UserError as exc:
        result["error"] = str(exc)
    except Exception as exc:  # one bad track must not stop the others
        result["error"] = f"{type(exc).__name__}: {exc}"
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
        dict per track, see :func:`prepare_track`).
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
        name = res["name"]
        if res["status"] == "prepared":
            summary["prepared"].append(name)
            summary["frames"] += res["frames"]
            if "offset_s" in res["meta"]:
                say(f"{name}: instrumental offset {res['meta']['offset_s']:+.3f} s "
                    f"({res['meta']['offset_samples']:+d} samples at {config.SR} Hz)")
            for w in res["warnings"]:
                say(f"warning: {name}: {w}", err=True)
        elif res["status"] == "exists":
            summary["existing"].append(name)
        elif res["status"] == "skipped":
            summary["skipped"].append(name)
            say(f"{name}: skipped ({res['error']})", err=True)
        else:
            summary["failed"].append((name, res["error"]))
            say(f"error: {name}: {res['error']}", err=True)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc=f"prepare {dataset}")
    work = functools.partial(prepare_track, cache_dir=cache_dir, overwrite=overwrite,
                             pitch_shifts=tuple(pitch_shifts), time_stretches=tuple(time_stretches))
    try:
        if jobs == 1:
            for t in tracks:
                record(work(t))
                if bar is not None:
                    bar.update(1)
        else:
            from concurrent.futures import as_completed

            from .parallel import process_pool

            # spawned workers that end with this process (kill, Ctrl-C, error)
            with process_pool(jobs) as pool:
                futures = {pool.submit(work, t): t for t in tracks}
                for fut in as_completed(futures):
                    try:
                        res = fut.result()
                    except OSError:
                        raise
                    except Exception as exc:  # a worker died (killed, out of memory)
                        res = {"name": futures[fut].name, "status": "failed", "outputs": [],
                               "error": f"worker failed: {type(exc).__name__}: {exc}",
                               "warnings": [], "meta": {}, "frames": 0}
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
    hours = summary["frames"] * config.HOP / config.SR / 3600
    line = (f"prepared {n_prep} ({hours:.2f} h of audio written), skipped {n_skip} "
            f"(already done {n_exist}), failed {len(failed)}")
    if failed:
        line += ": " + ", ".join(name for name, _ in failed)
    return line


def get_parser():
    """The ``python -m unetvocalsep.prepare`` argument parser."""
    from .argtypes import Parser, finite_float, nonnegative_int, positive_float, positive_int

    p = Parser(
        prog="python -m unetvocalsep.prepare",
        description="Build the training cache (16 kHz magnitudes of mix/vocals/accompaniment, "
                    "all divided by the maximum of the mix) from a multitrack dataset. "
                    "See data/README.md for the layouts and recipes.")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("root", help="dataset folder (DSD100/, musdb18/, musdb18hq/, iKala/, MedleyDB/, ...)")
    p.add_argument("-o", "--out", required=True, help="cache folder (created; existing tracks are kept)")
    p.add_argument("--split", default=None,
                   help="dsd100: dev (default) | test | all; musdb18/musdb18hq: train (default, "
                        "without the 14 validation tracks) | valid | test | train+valid | all")
    p.add_argument("--random-mixes", type=nonnegative_int, default=0, metavar="N",
                   help="add N re-mixes: vocals of one track over the accompaniment of another")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random mixes (default 0)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="tracks prepared in parallel (default 1)")
    p.add_argument("--overwrite", action="store_true", help="recompute tracks already in the cache")
    p.add_argument("--pitch-shift", type=finite_float, nargs="+", default=[], metavar="SEMITONES",
                   help="add pitch-shifted copies (e.g. --pitch-shift -2 2)")
    p.add_argument("--time-stretch", type=positive_float, nargs="+", default=[], metavar="RATE",
                   help="add time-stretched copies (e.g. --time-stretch 0.9 1.1)")
    p.add_argument("--csv", default=None, help="pairs: CSV with columns song,instrumental (paths from ROOT)")
    p.add_argument("--max-offset", type=positive_float, default=MAX_PAIR_OFFSET_S, metavar="SECONDS",
                   help=f"pairs: alignment search range (default {MAX_PAIR_OFFSET_S:g} s)")
    p.add_argument("--metadata", default=None, metavar="DIR",
                   help="medleydb: folder of <Track>_METADATA.yaml (default: track folders, ROOT/Metadata)")
    p.add_argument("--prefix", default="", help="prepended to every cache name")
    p.add_argument("--no-progress", action="store_true")
    return p


def _main(argv=None):
    args = get_parser().parse_args(argv)
    if args.random_mixes < 0:
        raise UserError("--random-mixes must be >= 0")
    summary = prepare(args.dataset, args.root, args.out, split=args.split,
                      random_mixes_n=args.random_mixes, seed=args.seed, jobs=args.jobs,
                      overwrite=args.overwrite, pitch_shifts=args.pitch_shift,
                      time_stretches=args.time_stretch, csv_file=args.csv,
                      metadata_dir=args.metadata, prefix=args.prefix,
                      max_offset_s=args.max_offset, progress=not args.no_progress)
    line = format_summary(summary)
    if summary["failed"]:
        print(line, file=sys.stderr)
        return 1
    print(line)
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.prepare``; returns the exit status."""
    from .errors import run_cli

    return run_cli(_main, argv, prog="unetvocalsep.prepare")


if __name__ == "__main__":
    raise SystemExit(main())
