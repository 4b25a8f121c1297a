"""The training cache and the random-crop dataset.

Cache format
------------
A cache is a folder of tracks. Each track is one ``<name>.npy`` file holding a
float32 array of shape ``(3, 513, frames)``: the 16 kHz STFT magnitudes
(1024 / 512, all 513 bins) of ``[mix, vocal, inst]``, **all three divided by
the maximum of the mix** (the article's normalisation). A ``<name>.json``
beside it records where the track came from. Arrays are opened with
``numpy.load(..., mmap_mode='r')``, so a cache of any size costs almost no
RAM; a crop reads only its own pages.

The article's own per-track ``.npz`` files (keys ``mix``, ``vocal``, ``inst``)
are read too (into memory).
"""
import contextlib
import glob
import json
import os

import numpy as np

from .. import _compat  # noqa: F401
from .. import constants
from ..errors import UserError
from ..files import AtomicFile
from ..spectrogram import normalise, spectrogram

import chainer

#: Order of the three magnitudes in a cache array.
PARTS = ("mix", "vocal", "inst")


def make_example(mixture, vocals, sr, accompaniment=None):
    """Normalised magnitudes of one track, the cache's array.

    Parameters
    ----------
    mixture, vocals : numpy.ndarray, shape (channels, samples) or (samples,)
    sr : int
    accompaniment : numpy.ndarray or None
        ``mixture - vocals`` when ``None``.

    Returns
    -------
    numpy.ndarray, shape (3, 513, frames), float32
        ``[mix, vocal, inst]``, all divided by the maximum of the mix.
    """
    mixture = np.atleast_2d(np.asarray(mixture, dtype=np.float32))
    vocals = np.atleast_2d(np.asarray(vocals, dtype=np.float32))
    if accompaniment is None:
        accompaniment = mixture - vocals
    accompaniment = np.atleast_2d(np.asarray(accompaniment, dtype=np.float32))
    n = min(mixture.shape[-1], vocals.shape[-1], accompaniment.shape[-1])
    mags = [spectrogram(x[..., :n], sr)[0] for x in (mixture, vocals, accompaniment)]
    mix, peak = normalise(mags[0])
    return np.stack([mix, normalise(mags[1], peak)[0], normalise(mags[2], peak)[0]])


def save_example(cache_dir, name, array, meta=None):
    """Write one track to the cache atomically.

    Parameters
    ----------
    cache_dir : str
    name : str
        Track name (file name without extension).
    array : numpy.ndarray, shape (3, 513, frames), float32
    meta : dict or None
        Stored in ``<name>.json``.

    Returns
    -------
    str
        The path of the ``.npy`` file.
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[:2] != (3, constants.N_BINS + 1):
        raise ValueError(f"cache arrays must be (3, 513, frames), got {array.shape}")
    os.makedirs(cache_dir, exist_ok=True)
    path = os.path.join(cache_dir, name + ".npy")
    info = {"frames": int(array.shape[2]), "parts": list(PARTS)}
    info.update(meta or {})
    # Both files are written in full first; the .npy is committed before its
    # .json, and taken back if the .json cannot follow, so the cache never
    # holds one without the other (a full disk once left .json files alone).
    files = [AtomicFile(path, overwrite=True),
             AtomicFile(os.path.join(cache_dir, name + ".json"), overwrite=True)]
    try:
        try:
            with open(files[0].tmp, "wb") as f:
                _write_npy(f, array)
            with open(files[1].tmp, "w") as f:
                json.dump(info, f, indent=1, sort_keys=True)
        except OSError as exc:   # name the user's file, not the hidden temporary one
            raise OSError(exc.errno, exc.strerror, path) from None
        files[0].commit()
        try:
            files[1].commit()
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(path)
            raise
    finally:
        for a in files:
            a.discard()
    return path


def _write_npy(f, array):
    """``np.save`` through Python's ``write``, so a full disk is ENOSPC.

    NumPy's own writer (``ndarray.tofile``) reports a full disk as "578664
    requested and 204768 written", with no errno.
    """
    fmt = np.lib.format
    array = np.ascontiguousarray(array)
    fmt.write_array_header_1_0(f, fmt.header_data_from_array_1_0(array))
    f.write(memoryview(array).cast("B"))


def list_tracks(paths):
    """All cached tracks under the given folders or files.

    Parameters
    ----------
    paths : str or list of str
        Cache folders, ``.npy`` files or the article's ``.npz`` files.

    Returns
    -------
    list of str
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found += sorted(glob.glob(os.path.join(p, "*.npy")) + glob.glob(os.path.join(p, "*.npz")))
        elif os.path.isfile(p):
            found.append(p)
        else:
            raise UserError(f"no such cache folder or file: {p}")
    return found


def track_weights(paths, weights):
    """One crop weight per track, from one weight per cache folder or file.

    Parameters
    ----------
    paths : list of str
        Cache folders or files, as given to :func:`list_tracks`.
    weights : list of float
        One per entry of ``paths``, each > 0.

    Returns
    -------
    dict
        ``{track path: weight}`` for every track :func:`list_tracks` finds.

    Raises
    ------
    UserError
        If the counts differ or a weight is not a positive finite number.

    Examples
    --------
    >>> track_weights([], [])
    {}
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if len(weights) != len(paths):
        raise UserError(f"{len(weights)} weights for {len(paths)} data folders: give one per folder")
    out = {}
    for p, w in zip(paths, weights):
        w = float(w)
        if not (np.isfinite(w) and w > 0):
            raise UserError(f"a data weight must be a positive number, not {w:g}")
        for f in list_tracks(p):
            out[f] = w
    return out


def weighted_counts(counts, weights):
    """Crop counts per track scaled by their weights (at least 1 each).

    Parameters
    ----------
    counts : ndarray of int, shape (tracks,)
    weights : sequence of float, shape (tracks,)

    Returns
    -------
    ndarray of int64, shape (tracks,)

    Examples
    --------
    >>> weighted_counts(np.array([10, 3]), [1.0, 2.5]).tolist()
    [10, 8]
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != np.shape(counts):
        raise UserError(f"{w.size} weights for {np.size(counts)} tracks")
    return np.maximum(1, np.rint(np.asarray(counts) * w)).astype(np.int64)


def open_track(path):
    """Open a cached track lazily.

    Parameters
    ----------
    path : str
        ``.npy`` (memory-mapped) or the article's ``.npz``.

    Returns
    -------
    numpy.ndarray, shape (3, 513, frames), float32
    """
    try:
        if path.endswith(".npz"):
            with np.load(path) as z:
                arr = np.stack([np.asarray(z[k], dtype=np.float32) for k in PARTS])
        else:
            arr = np.load(path, mmap_mode="r")
    except Exception as exc:
        raise UserError(f"cannot read cached track {path}: {exc}") from None
    if arr.ndim != 3 or arr.shape[:2] != (3, constants.N_BINS + 1):
        raise UserError(f"not a cache array (3, 513, frames): {path} has {arr.shape}")
    return arr


def check_tracks(files, block_frames=4096):
    """Refuse cached tracks that hold NaN or infinite values (they make the loss NaN).

    Each track is memory-mapped and scanned in blocks of frames, then
    unmapped, so memory stays flat in the size of the cache.

    Parameters
    ----------
    files : list of str
    block_frames : int

    Raises
    ------
    UserError
        Naming the first bad track.
    """
    for f in files:
        arr = open_track(f)
        try:
            for start in range(0, arr.shape[2], block_frames):
                if not np.all(np.isfinite(arr[:, :, start:start + block_frames])):
                    raise UserError(f"cached track {f} contains NaN or infinite values; "
                                    "prepare it again (--overwrite)")
        finally:
            mm = getattr(arr, "_mmap", None)
            del arr
            if mm is not None:
                mm.close()


class SpectrogramDataset(chainer.dataset.DatasetMixin):
    """Random 128-frame crops of cached tracks (the article's training examples).

    Parameters
    ----------
    paths : str or list of str
        Cache folders or files (see :func:`list_tracks`).
    target : {'vocal', 'inst'}
        What ``Y`` is.
    patch : int
        Crop length in frames.
    random : bool
        Random crops (training). ``False`` enumerates the non-overlapping
        patches of every track in order (validation).
    epoch_factor : int
        ``len(dataset) = epoch_factor * sum(frames) // patch``; 4 reproduces
        the article's epoch, ``sum(frames) // 128 // 64 * 4`` iterations at
        batch 64.
    seed : int or None
    weights : sequence of float or None
        Not the article's (which draws every frame equally often): one weight
        per track of ``paths`` (after :func:`list_tracks`), multiplying how
        often random crops come from it; see :func:`track_weights` for one
        weight per cache folder. ``None``: all 1. Not used when ``random`` is
        False.

    Notes
    -----
    ``get_example(i)`` returns ``(X, Y)``, both float32 of shape
    ``(1, 512, patch)``: bins 1..512 of the mix and of the target. In random
    mode ``i`` selects the track (longer tracks, and tracks of a larger
    weight, are drawn more often) and the crop start is drawn at random. Each worker process of a
    ``MultiprocessIterator`` draws from its own random stream.
    """

    def __init__(self, paths, target="vocal", patch=constants.PATCH, random=True,
                 epoch_factor=4, seed=None, weights=None):
        if target not in ("vocal", "inst"):
            raise UserError(f"target must be 'vocal' or 'inst', not {target!r}")
        self.files = list_tracks(paths)
        if not self.files:
            raise UserError(f"no cached tracks (*.npy) in {paths}")
        self.target = PARTS.index(target)
        self.patch = patch
        self.random = random
        self.seed = seed
        self._arrays = {}   # only the article's .npz files, which cannot be memory-mapped
        self.frames = np.array([self._frames(f) for f in self.files], dtype=np.int64)
        counts = np.maximum(1, self.frames // patch)
        if random and weights is not None:
            counts = weighted_counts(counts, weights)
        self._bounds = np.cumsum(counts)
        self._len = int(self._bounds[-1]) * (epoch_factor if random else 1)
        self._rng, self._pid = None, None

    def _frames(self, f):
        with self._open(f) as arr:
            return int(arr.shape[2])

    @contextlib.contextmanager
    def _open(self, f):
        """The track's array for the duration of one crop.

        A ``.npy`` is memory-mapped and unmapped again right after, so the
        pages a crop touched do not stay mapped in this process: a process
        that kept every map open would see its RSS grow towards the size of
        the whole cache (measured: 7.5 GiB for a 17 h corpus).
        """
        if f.endswith(".npz"):
            arr = self._arrays.get(f)
            if arr is None:
                arr = self._arrays[f] = open_track(f)
            yield arr
            return
        arr = open_track(f)
        try:
            yield arr
        finally:
            mm = getattr(arr, "_mmap", None)
            del arr
            if mm is not None:
                mm.close()

    def __getstate__(self):  # do not pickle memory maps into worker processes
        state = dict(self.__dict__)
        state["_arrays"] = {}
        state["_rng"] = None
        return state

    def __len__(self):
        return self._len

    def _random(self):
        pid = os.getpid()
        if self._rng is None or self._pid != pid:
            seq = np.random.SeedSequence(None if self.seed is None else [self.seed, pid])
            self._rng, self._pid = np.random.default_rng(seq), pid
        return self._rng

    def get_example(self, i):
        """One ``(X, Y)`` pair, each ``(1, 512, patch)`` float32."""
        j = int(np.searchsorted(self._bounds, i % int(self._bounds[-1]), side="right"))
        t = int(self.frames[j])
        if self.random:
            start = int(self._random().integers(0, max(1, t - self.patch + 1)))
        else:
            first = int(self._bounds[j - 1]) if j else 0
            start = (i % int(self._bounds[-1]) - first) * self.patch
        x = np.zeros((1, constants.N_BINS, self.patch), dtype=np.float32)
        y = np.zeros_like(x)
        n = min(self.patch, t - start)
        with self._open(self.files[j]) as arr:
            x[0, :, :n] = arr[0, 1:, start:start + n]
            y[0, :, :n] = arr[self.target, 1:, start:start + n]
        return x, y


def article_iterations_per_epoch(dataset, batchsize=constants.BATCH):
    """The article's epoch: ``sum(frames) // 128 // batchsize * 4`` iterations.

    Parameters
    ----------
    dataset : SpectrogramDataset
    batchsize : int

    Returns
    -------
    int
    """
    return int(dataset.frames.sum()) // dataset.patch // batchsize * 4
