"""Exceptions that carry a message meant for the user.

The command-line front ends catch :class:`UserError` (and a few OS errors such
as a full disk) and print one line on stderr instead of a traceback.
"""
import errno


class UserError(Exception):
    """An error caused by the user's input (bad path, bad audio, bad model...)."""


class AudioError(UserError):
    """The input could not be decoded as audio, or the audio is unusable."""


class ModelError(UserError):
    """A model file is missing, corrupt, or does not match the network."""


class DeviceError(UserError):
    """The requested compute device is not available."""


def describe_os_error(exc):
    """Return a one-line description of an :class:`OSError` for the user.

    Parameters
    ----------
    exc : OSError

    Returns
    -------
    str
    """
    if exc.errno == errno.ENOSPC:
        return "no space left on device" + (f": {exc.filename}" if exc.filename else "")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied" + (f": {exc.filename}" if exc.filename else "")
    if exc.errno == errno.EROFS:
        return "read-only file system" + (f": {exc.filename}" if exc.filename else "")
    msg = exc.strerror or str(exc)
    return msg + (f": {exc.filename}" if exc.filename else "")


def stderr_is_terminal():
    """Whether stderr is a terminal: progress bars are drawn only there.

    On a pipe or a file a bar's lines would surround the one-line error.

    Returns
    -------
    bool
    """
    import sys

    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):   # replaced or closed stderr
        return False


def describe_error(exc):
    """The one line the user sees for an exception of a kind the package expects.

    Parameters
    ----------
    exc : BaseException
        A :class:`UserError`, an :class:`OSError`, a :class:`MemoryError`, or
        anything else (then named with its type, as an internal error).

    Returns
    -------
    str

    Examples
    --------
    >>> import errno
    >>> describe_error(OSError(errno.ENOSPC, "No space left on device", "out.wav"))
    'no space left on device: out.wav'
    """
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc}"


#: The subcommand the ``unetvocalsep`` console command is running, if any
#: (set by :mod:`unetvocalsep.__main__`), so that usage lines and error
#: prefixes name what the user typed.
INVOKED_AS = []


def cli_name(prog, usage=False):
    """The name a CLI shows: ``unetvocalsep X`` under the console command.

    Parameters
    ----------
    prog : str
        The module's own name: ``python -m unetvocalsep.X`` or ``unetvocalsep.X``.
    usage : bool
        For a usage line (``python -m unetvocalsep.X``) rather than an
        error prefix (``unetvocalsep.X``) when not under the console command.

    Returns
    -------
    str

    Examples
    --------
    >>> cli_name("python -m unetvocalsep.separate")
    'python -m unetvocalsep.separate'
    """
    if INVOKED_AS:
        return f"unetvocalsep {INVOKED_AS[-1]}"
    return prog
