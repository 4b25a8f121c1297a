"""Writing files safely: atomic replacement, no silent overwrite, claims against a second run.

Every output of the package goes through :func:`atomic_path` (or
:class:`AtomicFile`, for several files committed together):

- the data go to a hidden temporary file in the target folder, named
  ``.<stem>.<pid>-<random>.part<ext>``, and reach the final name only when
  complete, by one rename;
- without ``overwrite`` the final step is a *no-replace* rename (a hard link,
  then an unlink of the temporary name), so a file that another program or a
  second run created in the meantime is never replaced;
- a temporary file whose process no longer exists (left by a ``kill -9`` or a
  power cut) is removed by the next write of the same output.

:func:`claim` takes an advisory lock on an output path for the whole of a run,
so a second run writing the same file fails at its start, with one line, not
after the work.

Examples
--------
>>> import os, tempfile
>>> from unetvocalsep.files import atomic_path
>>> d = tempfile.mkdtemp()
>>> with atomic_path(os.path.join(d, "a.txt")) as tmp:
...     with open(tmp, "w") as f:
...         _ = f.write("done")
>>> sorted(os.listdir(d))
['a.txt']
"""
import contextlib
import errno
import os
import re
import secrets
import time

from .errors import UserError, describe_os_error


def _read_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process umask, read once at import (os.umask is not thread-safe to query).
_UMASK = _read_umask()
#: Temporary names left by versions before the pid was part of the name are
#: removed once they are this old (seconds).
STALE_SECONDS = 3600.0


def _split(path):
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    return folder, stem, ext


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:   # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_parts(path):
    """Remove the temporary files of ``path`` left by processes that no longer exist.

    Parameters
    ----------
    path : str
        The final file name.

    Returns
    -------
    list of str
        The files removed.
    """
    folder, stem, ext = _split(os.fspath(path))
    pattern = re.compile(r"^\." + re.escape(stem) + r"\.(?:(\d+)-)?[\w]+\.part" + re.escape(ext) + "$")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = pattern.match(name)
        if not m:
            continue
        full = os.path.join(folder, name)
        try:
            if m.group(1) is not None:
                stale = not _pid_alive(int(m.group(1)))
            else:
                stale = now - os.stat(full).st_mtime > STALE_SECONDS
            if stale:
                os.remove(full)
                removed.append(full)
        except OSError:
            pass
    return removed


def check_target(path, overwrite=False):
    """Refuse an output path that cannot or must not be written.

    Parameters
    ----------
    path : str
    overwrite : bool

    Raises
    ------
    UserError
        The path is a folder; or it exists and is not a regular file (a
        device, pipe or socket: refused even with ``overwrite``, since
        replacing ``/dev/null`` with a file is never what a user wants); or it
        exists and ``overwrite`` is not set.
    """
    import stat

    path = os.fspath(path)
    if os.path.isdir(path):
        raise UserError(f"output path is a folder: {path}")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise UserError(f"output path is not a regular file (a device, pipe or socket; "
                        f"choose a file name): {path}")
    if os.path.lexists(path) and not overwrite:
        raise UserError(f"output exists (use --overwrite to replace it): {path}")


class AtomicFile:
    """A temporary file next to ``path`` that becomes ``path`` on :meth:`commit`.

    Parameters
    ----------
    path : str or os.PathLike
        The final file name.
    overwrite : bool
        Replace an existing file. Without it an existing file raises
        :class:`UserError`, at creation and again at :meth:`commit`.

    Attributes
    ----------
    path : str
    tmp : str
        The temporary file (created empty, with the permissions a plain
        ``open()`` would give).
    """

    def __init__(self, path, overwrite=False):
        self._dir = None   # before anything can fail: __del__ reads it
        self.done = True   # nothing to discard until the temporary file exists
        self.path = os.fspath(path)
        self.overwrite = overwrite
        check_target(self.path, overwrite)
        folder, stem, ext = _split(self.path)
        remove_stale_parts(self.path)
        # The folder is held open: the temporary file is created, renamed and
        # removed relative to it, so a folder moved or swapped for a link
        # during the run neither receives the output nor keeps the temporary.
        self.folder = folder
        self._dir = _open_folder(folder, self.path)
        try:
            while True:
                name = f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.part{ext}"
                try:
                    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_UMASK,
                                 dir_fd=self._dir)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, self.path) from None
                os.close(fd)
                break
        except BaseException:
            self._close()
            raise
        self._name = name
        self._final = os.path.basename(self.path)
        self.tmp = os.path.join(folder, name)
        self.done = False

    def _check_folder(self):
        if not _same_folder(self._dir, self.folder):
            raise UserError(f"the output folder {self.folder} was moved or replaced during "
                            f"the run; nothing was written to it")

    def commit(self):
        """Move the temporary file to :attr:`path`.

        Raises
        ------
        UserError
            Without ``overwrite``: :attr:`path` appeared meanwhile (it is kept).
            The output folder was moved or replaced by another (a link, say)
            since the file was started; the temporary file is removed.
        OSError
            The rename failed; ``filename`` is :attr:`path`.
        """
        try:
            self._check_folder()
            if os.path.isdir(self.path):
                raise UserError(f"output path is a folder: {self.path}")
            if self.overwrite:
                try:
                    os.replace(self._name, self._final, src_dir_fd=self._dir,
                               dst_dir_fd=self._dir)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, self.path) from None
            else:
                _rename_noreplace(self._name, self._final, self._dir, self.path)
        except BaseException:
            self.discard()
            raise
        self.done = True
        self._close()

    def discard(self):
        """Remove the temporary file (idempotent)."""
        if not self.done:
            with contextlib.suppress(OSError):
                os.remove(self._name, dir_fd=self._dir)
            if not _same_folder(self._dir, self.folder):
                # a writer that opened the name after a swap created it there
                with contextlib.suppress(OSError):
                    os.remove(self.tmp)
            self.done = True
        self._close()

    def _close(self):
        if self._dir is not None:
            with contextlib.suppress(OSError):
                os.close(self._dir)
            self._dir = None

    def __del__(self):
        self._close()


def _open_folder(folder, path):
    """An open file descriptor of ``folder`` (errors name ``path``, the user's file)."""
    try:
        return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, path) from None


def _same_folder(fd, folder):
    """Whether the open folder ``fd`` is still what the name ``folder`` leads to."""
    try:
        a, b = os.fstat(fd), os.stat(folder)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _rename_noreplace(src, dst, dir_fd, path):
    """Rename ``src`` to ``dst`` (names in the open folder ``dir_fd``) unless ``dst`` exists."""
    try:
        os.link(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except FileExistsError:
        raise UserError(f"output exists (written by another program or run meanwhile; "
                        f"use --overwrite to replace it): {path}") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                             errno.EMLINK, errno.ENOSYS):
            raise OSError(exc.errno, exc.strerror, path) from None
        # no hard links on this file system (FAT, some network shares): best effort
        if os.path.lexists(path):
            raise UserError(f"output exists (use --overwrite to replace it): {path}") from None
        try:
            os.rename(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError as exc2:
            raise OSError(exc2.errno, exc2.strerror, path) from None
        return
    os.remove(src, dir_fd=dir_fd)


@contextlib.contextmanager
def atomic_path(path, overwrite=False):
    """Yield a temporary path next to ``path``; it becomes ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The final file name.
    overwrite : bool
        Replace an existing file. Without it an existing file raises
        :class:`UserError` and is left untouched, also when it appears while
        the block runs.

    Yields
    ------
    str
        A hidden temporary file name in the same folder (same file system,
        so the final rename is atomic). It is removed on any error, including
        ``KeyboardInterrupt`` and :class:`~unetvocalsep.signals.Terminated`.
    """
    f = AtomicFile(path, overwrite)
    try:
        yield f.tmp
    except OSError as exc:   # name the user's file, not the hidden temporary one
        f.discard()
        if exc.filename == f.tmp:
            raise OSError(exc.errno, exc.strerror, f.path) from None
        raise
    except BaseException:
        f.discard()
        raise
    f.commit()


@contextlib.contextmanager
def claim(paths):
    """Hold an exclusive advisory lock on each output path while a run writes it.

    A second run (of this package) that claims one of the same paths fails
    at once with :class:`UserError`. The locks are ``.<name>.lock`` files next
    to the outputs, taken with ``flock`` (released by the kernel if the
    process dies) and removed on exit. Where ``flock`` does not exist
    (Windows) this does nothing; the no-replace rename of
    :class:`AtomicFile` still protects existing files.

    Parameters
    ----------
    paths : iterable of str
        Output files; their folders must exist.

    Raises
    ------
    UserError
        Another run holds one of them.
    """
    try:
        import fcntl
    except ImportError:   # pragma: no cover (Windows)
        yield
        return
    held = []
    try:
        for path in sorted({os.path.abspath(os.fspath(p)) for p in paths}):
            folder, name = os.path.split(path)
            lock = f".{name}.lock"
            dir_fd = _open_folder(folder, path)
            try:
                while True:
                    try:
                        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK,
                                     dir_fd=dir_fd)
                    except OSError as exc:   # name the user's file, not the hidden lock
                        raise OSError(exc.errno, exc.strerror, path) from None
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        os.close(fd)
                        raise UserError(f"another run is writing {path} (wait for it, or "
                                        "choose another output folder)") from None
                    try:   # the lock file may have been removed by its last holder
                        same = os.fstat(fd).st_ino == os.stat(lock, dir_fd=dir_fd).st_ino
                    except FileNotFoundError:
                        same = False
                    if same:
                        held.append((lock, fd, dir_fd))
                        break
                    os.close(fd)
            except BaseException:
                os.close(dir_fd)
                raise
        yield
    finally:
        for lock, fd, dir_fd in reversed(held):
            with contextlib.suppress(OSError):   # in the folder it was made in, moved or not
                os.remove(lock, dir_fd=dir_fd)
            os.close(fd)
            os.close(dir_fd)


def check_writable_folder(folder, create=True):
    """Make sure ``folder`` exists (optionally creating it) and a file can be created in it.

    Parameters
    ----------
    folder : str
    create : bool

    Raises
    ------
    UserError
        With ``permission denied``, ``not a folder``, ``no space left`` etc.
    """
    folder = os.fspath(folder)
    probe = os.path.join(folder, f".unetvocalsep-probe-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        if create:
            os.makedirs(folder, exist_ok=True)
        if not os.path.isdir(folder):
            raise UserError(f"{'not a' if os.path.exists(folder) else 'no such'} folder: {folder}")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.remove(probe)
    except FileExistsError:
        raise UserError(f"not a folder: {folder}") from None
    except NotADirectoryError:
        raise UserError(f"not a folder (a file is in the way): {folder}") from None
    except OSError as exc:
        raise UserError(f"cannot write to {folder}: {describe_os_error(exc).split(':')[0]}") from None
