"""Where and how ``separate`` writes its stems: output paths, the commit of all stems, notes.

Examples
--------
>>> output_paths("music/My Song.mp3", "separated")["vocals"]
'separated/My Song/vocals.wav'
>>> output_paths("MUSDB/Track A/mixture.wav", "out", template="{parent}/{stem}.{ext}")["vocals"]
'out/Track A/vocals.wav'
"""
import contextlib
import os
import string

from .errors import UserError, describe_os_error

import numpy as np

from . import constants
from .files import check_target
from .limits import check_gain_db, check_out_sr


class Outputs(dict):
    """What :meth:`Separator.separate_file` wrote: stem name -> path, with notes.

    Attributes
    ----------
    peaks : dict
        Stem name -> largest absolute sample (1.0 is full scale).
    notes : list of str
        One line each: a stem written as 32-bit float because 16 bits would
        have clipped it, or the number of samples clipped and what to do.
    """

    def __init__(self, paths, writers, gain_db=0.0):
        super().__init__(paths)
        self.peaks = {n: w.peak for n, w in zip(paths, writers)}
        self.notes = []
        worst = max(self.peaks.values(), default=0.0)
        room = f"--gain {gain_db - 20 * np.log10(worst) - 0.1:.1f}" if worst > 1 else ""
        for n, w in zip(paths, writers):
            dbfs = 20 * np.log10(max(w.peak, 1e-12))
            if w.promoted:
                self.notes.append(
                    f"{paths[n]}: peaks at {dbfs:+.1f} dBFS, so it was written as 32-bit float "
                    f"instead of 16-bit: nothing clips and the stems add up to the input "
                    f"(for 16-bit without clipping: --bits 16 {room})")
            elif w.clipped:
                self.notes.append(
                    f"{paths[n]}: {w.clipped} samples clipped (peak {dbfs:+.1f} dBFS); "
                    f"use {room} to make room, or --format wav (float when needed)")


def commit_all(writers):
    """Commit several finished files; if one fails, take the ones already moved back out."""
    done = []
    try:
        for w in writers:
            w.commit()
            done.append(w)
    except BaseException:
        for w in writers:
            if w not in done:
                w.discard()
        for w in done:   # never leave half a result
            with contextlib.suppress(OSError):
                os.remove(w.path)
        raise


def vocal_mix(vocals, accompaniment, vocal_level_db):
    """The accompaniment with the vocals at a level: ``--vocal-level`` of separate and live.

    Parameters
    ----------
    vocals, accompaniment : numpy.ndarray, same shape
    vocal_level_db : float
        Gain of the vocals, -inf (the accompaniment alone, karaoke) to 0 dB
        (the two stems summed: the input).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> v, a = np.ones(3, np.float32), np.full(3, 2.0, np.float32)
    >>> vocal_mix(v, a, float("-inf")).tolist(), vocal_mix(v, a, 0.0).tolist()
    ([2.0, 2.0, 2.0], [3.0, 3.0, 3.0])
    """
    if vocal_level_db == float("-inf"):
        return accompaniment
    return accompaniment + vocals * np.float32(10 ** (vocal_level_db / 20))


#: The output name template by default (``--filename``).
DEFAULT_FILENAME = "{track}/{stem}.{ext}"

#: What a ``--filename`` template may use.
FILENAME_FIELDS = {
    "track": "the input's name without its extension (song for song.mp3, X for X.stem.mp4)",
    "parent": "the name of the folder holding the input",
    "stem": "vocals, accompaniment or mix",
    "ext": "the format's extension (wav, flac, ogg, mp3)",
}


def safe_name(name):
    """A file-name part that stays where it is put: no separators, never '', '.' or '..'.

    Examples
    --------
    >>> safe_name("..") , safe_name("a/b"), safe_name("Track 1")
    ('_', 'a_b', 'Track 1')
    """
    name = str(name).replace("/", "_").replace("\\", "_").replace("\0", "_")
    return "_" if name.strip() in ("", ".", "..") else name


def check_filename(template):
    """Check a ``--filename`` template; return it.

    Parameters
    ----------
    template : str
        Uses fields of :data:`FILENAME_FIELDS` (``{stem}`` is required, so the
        stems get different names); a relative path, no ``..``.

    Returns
    -------
    str

    Raises
    ------
    UserError
    """
    if not isinstance(template, str) or not template.strip():
        raise UserError("the output name template is empty")
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UserError(f"bad output name template {template!r}: {exc}") from None
    unknown = [f for f in fields if f not in FILENAME_FIELDS]
    if unknown:
        raise UserError(f"unknown field {{{unknown[0]}}} in the output name template "
                        f"(use {', '.join('{' + k + '}' for k in FILENAME_FIELDS)})")
    if "stem" not in fields:
        raise UserError("the output name template needs {stem}, or the stems would overwrite "
                        "each other")
    parts = template.replace("\\", "/").split("/")
    if template.startswith(("/", "\\")) or os.path.isabs(template) or ".." in parts \
            or "" in parts[:-1] or not parts[-1]:
        raise UserError(f"the output name template must be a relative path inside the output "
                        f"folder: {template!r}")
    return template


def track_name(path):
    """The output folder name of an input file: its name without the extension.

    Parameters
    ----------
    path : str

    Returns
    -------
    str
        Never empty, ``.`` or ``..``, and without path separators, so the
        stems always stay inside the output folder (``..stem.mp4``).
    """
    base = os.path.basename(os.fspath(path))
    if base.lower().endswith(".stem.mp4"):   # MUSDB18's stem files
        return safe_name(base[:-len(".stem.mp4")])
    return safe_name(os.path.splitext(base)[0] or base)


def output_paths(path, output_dir, fmt="wav", mix=False, template=DEFAULT_FILENAME, stems=None):
    """Where the stems of ``path`` are written.

    Parameters
    ----------
    path : str
    output_dir : str
    fmt : str
    mix : bool
        Add ``'mix'``: the accompaniment with the vocals at a chosen level.
    template : str
        The output name under ``output_dir`` (:func:`check_filename`),
        default :data:`DEFAULT_FILENAME`.
    stems : sequence of str or None
        Only these of ``vocals``, ``accompaniment`` (and ``mix``); None: all.

    Returns
    -------
    dict
        ``{'vocals': '<output_dir>/<track>/vocals.<fmt>', 'accompaniment': ...}``
    """
    check_filename(template)
    names = constants.STEMS + (("mix",) if mix else ())
    if stems is not None:
        names = tuple(n for n in names if n in stems or n == "mix")
    parent = safe_name(os.path.basename(os.path.dirname(os.path.abspath(os.fspath(path)))))
    fields = {"track": track_name(path), "parent": parent, "ext": fmt}
    return {name: os.path.join(os.fspath(output_dir),
                               *template.format(stem=name, **fields).split("/"))
            for name in names}


def check_output_settings(stems, start, duration, gain_db, out_sr, vocal_level_db):
    """Check :meth:`Separator.separate_file <unetvocalsep.separator.Separator.separate_file>`'s output settings.

    Parameters
    ----------
    stems : sequence of str or None
    start, duration : float, float or None
        Seconds; ``start >= 0``, ``duration > 0``.
    gain_db : float
        Within :data:`unetvocalsep.limits.MAX_GAIN_DB`.
    out_sr : int or None
    vocal_level_db : float or None
        -inf to 0 dB, or None for no mix.

    Returns
    -------
    stems : tuple or None
    gain : numpy.float32
        The linear gain.
    out_sr : int or None
    mix : bool
        Whether a mix stem is written.

    Raises
    ------
    UserError

    Examples
    --------
    >>> stems, gain, out_sr, mix = check_output_settings(["vocals"], 0.0, None, 0.0, None, -6.0)
    >>> stems, float(gain), out_sr, mix
    (('vocals',), 1.0, None, True)
    """
    if stems is not None:
        stems = tuple(stems)
        bad = [n for n in stems if n not in constants.STEMS]
        if bad or not stems:
            raise UserError(f"stems must name vocals and/or accompaniment, got {stems!r}")
    for name, value in (("start", start), ("duration", duration)):
        if value is None and name == "duration":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                or not np.isfinite(value) or value < 0 or (name == "duration" and value == 0):
            raise UserError(f"{name} must be a {'positive' if name == 'duration' else 'non-negative'} "
                            f"number of seconds, got {value!r}")
    gain = np.float32(10 ** (check_gain_db(gain_db) / 20))
    out_sr = check_out_sr(out_sr)
    mix = vocal_level_db is not None
    if mix and not (vocal_level_db <= 0):
        raise UserError(f"the vocal level must be -inf to 0 dB, got {vocal_level_db}")
    return stems, gain, out_sr, mix


def plan_outputs(path, output_dir, fmt, outputs, stems, mix, filename, overwrite):
    """The output paths of one input, checked before any work.

    Parameters
    ----------
    path : str
        The input.
    output_dir, fmt, filename : str, str, str or None
        See :func:`output_paths` (``filename`` None: :data:`DEFAULT_FILENAME`).
    outputs : dict or None
        Explicit stem -> path (then ``output_dir`` and ``filename`` are unused).
    stems : tuple or None
    mix : bool
    overwrite : bool

    Returns
    -------
    dict
        Stem name -> path.

    Raises
    ------
    UserError
        An output is the input, exists without ``overwrite``, or is not a
        regular file (:func:`unetvocalsep.files.check_target`).
    """
    if outputs is not None:
        outputs = dict(outputs)
        if stems is not None:
            outputs = {n: p for n, p in outputs.items() if n in stems or n == "mix"}
    else:
        outputs = output_paths(path, output_dir, fmt, mix=mix,
                               template=filename or DEFAULT_FILENAME, stems=stems)
    if mix and "mix" not in outputs:
        raise UserError("outputs needs a 'mix' path when vocal_level_db is given")
    src = os.path.realpath(path)
    for out in outputs.values():
        if os.path.realpath(out) == src:
            raise UserError(f"output would overwrite the input: {out}")
        check_target(out, overwrite)
    return outputs


def make_output_folders(outputs):
    """Create the folders of ``outputs``; the ones this call made, deepest last.

    Parameters
    ----------
    outputs : dict
        Stem name -> path.

    Returns
    -------
    list of str
        The folders created (to remove again, deepest first, on failure).

    Raises
    ------
    UserError
        A folder cannot be created (named, with the reason).
    """
    created = []
    for folder in dict.fromkeys(os.path.dirname(o) for o in outputs.values()):
        missing = []
        d = folder
        while d and not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create output folder {folder}: "
                            f"{describe_os_error(exc).split(':')[0]}") from None
        created += missing
    return created
