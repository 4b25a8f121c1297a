"""Where and how ``separate`` writes its stems: output paths, the commit of all stems, notes.

Examples
--------
>>> output_paths("music/My Song.mp3", "separated")["vocals"]
'separated/My Song/vocals.wav'
"""
import contextlib
import os

import numpy as np

from . import constants


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


def track_name(path):
    """The output folder name of an input file: its name without the extension.

    Parameters
    ----------
    path : str

    Returns
    -------
    str
    """
    base = os.path.basename(os.fspath(path))
    if base.lower().endswith(".stem.mp4"):   # MUSDB18's stem files
        return base[:-len(".stem.mp4")]
    return os.path.splitext(base)[0] or base


def output_paths(path, output_dir, fmt="wav", mix=False):
    """Where the stems of ``path`` are written.

    Parameters
    ----------
    path : str
    output_dir : str
    fmt : str
    mix : bool
        Add ``'mix'``: the accompaniment with the vocals at a chosen level.

    Returns
    -------
    dict
        ``{'vocals': '<output_dir>/<track>/vocals.<fmt>', 'accompaniment': ...}``
    """
    folder = os.path.join(os.fspath(output_dir), track_name(path))
    names = constants.STEMS + (("mix",) if mix else ())
    return {name: os.path.join(folder, f"{name}.{fmt}") for name in names}
