"""MedleyDB: reading its metadata YAML to sum a track's vocal and accompaniment stems.

A stem is vocal when its ``instrument`` names a singer (:data:`MEDLEYDB_VOCAL_INSTRUMENTS`);
tracks without vocals are skipped with the reason.

Examples
--------
>>> is_vocal_instrument('female singer'), is_vocal_instrument(['piano', 'male rapper'])
(True, True)
"""
import functools
import glob
import os

from ..errors import UserError
from .tracks import Track, _fail, _require_dir, _subdirs
from .stems import load_stems

#: MedleyDB ``instrument`` labels counted as vocals (lower case). These are the
#: voice labels of the MedleyDB taxonomy that carry singing, rap or speech.
#: "beatboxing" (vocal percussion), "crowd" and "whistle" are *not* vocals here:
#: they go to the accompaniment, as a percussion or ambience part would.
MEDLEYDB_VOCAL_INSTRUMENTS = frozenset({
    "female singer", "male singer", "male rapper", "female rapper",
    "male speaker", "female speaker", "vocalists", "choir",
})


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
        and tracks without a vocal stem are skipped (``loader=None``) with ``info['skip']``.
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
        Instrumental tracks come skipped (``loader=None``).
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
