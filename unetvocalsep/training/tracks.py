"""A dataset's track: where its stems are, and the checks every reader shares.

Examples
--------
>>> t = Track('song', None, {'skip': 'no vocal stem'})
>>> t.skipped
True
"""
import glob
import os
from typing import Callable, NamedTuple, Optional

from ..errors import UserError


class TrackError(UserError):
    """One track cannot be prepared (missing stem, unreadable file, ...)."""


class Track(NamedTuple):
    """One entry of a dataset.

    Attributes
    ----------
    name : str
        Cache name (``<name>.npy``).
    loader : callable or None
        ``loader(mono=...)`` returns :class:`Stems`; ``None`` when the track
        is skipped.  Call :meth:`load` rather than this.
    info : dict
        ``dataset``, ``split``, ``source`` and, for skipped tracks, ``skip``
        (the reason).
    """

    name: str
    loader: Optional[Callable]   # returns training.stems.Stems
    info: dict

    @property
    def skipped(self):
        """True when the reader skips this track (``info['skip']`` says why)."""
        return self.loader is None

    def load(self, mono=True):
        """Decode the track.

        Parameters
        ----------
        mono : bool
            Mix every stem down to one channel (what the network sees);
            False keeps the files' channels (what ``evaluate`` scores).

        Returns
        -------
        Stems

        Raises
        ------
        TrackError
            A skipped track, or one that cannot be decoded.
        """
        if self.loader is None:
            raise TrackError(f"{self.name}: skipped ({self.info.get('skip', 'no loader')})")
        return self.loader(mono=mono)


def _fail(message, mono=True):
    raise TrackError(message)


def _require_dir(root):
    if not os.path.isdir(root):
        raise UserError(f"no such folder: {root}")


def _subdirs(folder):
    return sorted(d for d in glob.glob(os.path.join(glob.escape(folder), "*")) if os.path.isdir(d))
