"""Dataset readers: which tracks a dataset has, and which files make each stem.

One small reader per dataset (``read_dsd100``, ``read_musdb18``,
``read_musdb18hq``, ``read_ikala``, ``read_medleydb``, ``read_pairs``,
``read_folder``; :func:`read_dataset` picks one).  A reader yields
:class:`Track` ``(name, loader, info)``; ``track.load(mono=True)`` decodes
it into :class:`~unetvocalsep.training.stems.Stems`.  ``prepare`` (the training
cache) and ``evaluate`` (the scores, with all channels) use the same
readers.  docs/DATASETS.md gives each dataset's layout and stem rules.

Examples
--------
>>> import numpy as np, soundfile as sf, tempfile, os
>>> root = tempfile.mkdtemp()
>>> os.makedirs(os.path.join(root, "song"))
>>> for stem in ("mixture", "vocals"):
...     sf.write(os.path.join(root, "song", stem + ".wav"), np.zeros(8000), 8000)
>>> [t.name for t in read_folder(root)]
['song']
>>> read_folder(root).__next__().load(mono=False).vocals.shape
(1, 8000)
"""
import csv
import functools
import glob
import os

import numpy as np

from ..errors import UserError
from .medleydb import read_medleydb
from .pairs import MAX_OFFSET_S as MAX_PAIR_OFFSET_S
from .pairs import load_pair_stems
from .stems import ffmpeg_path, load_ikala, load_musdb_stem, load_random_mix, load_stems
from .tracks import Track, _fail, _require_dir, _subdirs

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


#: Splits each dataset has, and the default one.
SPLITS = {
    "dsd100": ("dev", "test", "all"),
    "musdb18": ("train", "valid", "test", "train+valid", "all"),
    "musdb18hq": ("train", "valid", "test", "train+valid", "all"),
}


DEFAULT_SPLIT = {"dsd100": "dev", "musdb18": "train", "musdb18hq": "train"}
#: Random mixes scale the vocals by a gain drawn uniformly in +-this many dB.
RANDOM_MIX_GAIN_DB = 3.0
#: File extensions taken as audio when scanning folders.
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".aif", ".aiff", ".opus")


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
    ffmpeg_path("ffmpeg"), ffmpeg_path("ffprobe")
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
            yield Track(name, functools.partial(load_pair_stems, song, inst, max_offset_s), info)


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
    usable = [t for t in tracks if not t.skipped]
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
