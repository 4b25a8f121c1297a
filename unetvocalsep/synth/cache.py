"""The on-disk cache of the synthetic corpus generator (atomic writes only).

Two things are cached: the WORLD analysis of every syllable recording
(:mod:`.voice`) and the note lists of the parsed chorales (:mod:`.score`).
Every entry's file name carries a hash of its source path, mtime, size and
analysis parameters, so a changed source or parameter gives a new entry.
"""
import os
import tempfile


def default_cache_dir():
    """Return the default cache folder.

    Returns
    -------
    str
        ``$XDG_CACHE_HOME/unetvocalsep/synth`` (``~/.cache/...`` by default).
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "unetvocalsep", "synth")


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temp file in the same folder.

    Parameters
    ----------
    path : str
    data : bytes
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
