"""Decoding one track's stems: files, MUSDB18 streams, iKala channels, song/instrumental pairs.

Every function here returns :class:`Stems` ``(mixture, vocals, accompaniment,
sr, meta)`` or raises :class:`TrackError` naming the file.  The stem rules of
each dataset (which files make the vocals and the accompaniment) are listed
in docs/DATASETS.md; :mod:`unetvocalsep.training.datasets` decides which files a track
has, and this module decodes them.

Examples
--------
>>> import numpy as np, soundfile as sf, tempfile, os
>>> d = tempfile.mkdtemp()
>>> for stem in ("mixture", "vocals"):
...     sf.write(os.path.join(d, stem + ".wav"), np.zeros((8000, 2)), 8000)
>>> s = load_stems(os.path.join(d, "mixture.wav"), [os.path.join(d, "vocals.wav")])
>>> s.mixture.shape, s.accompaniment.shape, s.sr
((1, 8000), (1, 8000), 8000)
"""
import json
import os
import shutil
import subprocess
from typing import NamedTuple, Optional

import numpy as np

from .. import constants
from ..audio import load_audio
from ..errors import UserError
from ..resampling import to_mono16
from .tracks import TrackError

#: Stream order of a MUSDB18 ``.stem.mp4`` (``musdb/configs/mus.yaml``, ``stem_ids``).
MUSDB_STREAMS = ("mixture", "drums", "bass", "other", "vocals")
#: Stems of one track may differ in length by up to this many seconds, or by
#: this fraction of the track, whichever is larger; they are then cut to the
#: shortest with a warning. A larger difference makes the track fail.
LENGTH_TOLERANCE_S = 0.1
LENGTH_TOLERANCE_FRACTION = 0.01


#: Largest offset searched when aligning a song with its instrumental (seconds).


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


def _load(path, mono=True):
    """Load one file, turning every failure into a :class:`TrackError` naming it."""
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


def ffmpeg_path(name):
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
    cmd = [ffmpeg_path("ffprobe"), "-v", "error", "-select_streams", "a",
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
    cmd = [ffmpeg_path("ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-map", f"0:a:{index}",
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


def load_ikala(path, mono=True):
    """Load an iKala clip: left channel = accompaniment, right = vocals.

    Parameters
    ----------
    path : str
    mono : bool
        Accepted for the loader protocol; each source is one channel anyway.

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


def load_random_mix(vocal_load, accompaniment_load, gain_db, mono=True):
    """The vocals of one track over the accompaniment of another (the article's augmentation).

    Parameters
    ----------
    vocal_load, accompaniment_load : callable
        ``load`` methods of the two tracks (:class:`~unetvocalsep.training.tracks.Track`).
    gain_db : float
        Gain applied to the vocals.
    mono : bool
        Accepted for the loader protocol; random mixes are 16 kHz mono.

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
    return Stems(voc + acc, voc, acc, constants.SR, {"warnings": [], "vocal_gain_db": round(float(gain_db), 3)})
