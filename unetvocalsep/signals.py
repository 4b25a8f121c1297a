"""Termination signals handled like Ctrl-C, so that every clean-up path runs.

``kill`` (SIGTERM) and a closed terminal (SIGHUP) normally end a Python
process on the spot: no ``finally`` block runs and temporary files stay.
Inside :func:`terminate_as_exception` they raise :class:`Terminated`, a
subclass of :class:`KeyboardInterrupt`, in the main thread instead, so the
same code that cleans up after Ctrl-C cleans up after them.

Examples
--------
>>> from unetvocalsep.signals import Terminated, terminate_as_exception
>>> with terminate_as_exception():
...     pass          # a `kill` here raises Terminated
>>> issubclass(Terminated, KeyboardInterrupt)
True
"""
import contextlib
import signal
import sys
import threading

from .errors import UserError, cli_name, describe_error

#: The signals turned into :class:`Terminated` (those this platform has).
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """A termination signal arrived.

    Parameters
    ----------
    signum : int
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_status(self):
        """The shell's convention: 128 + the signal number."""
        return 128 + self.signum


class Cancelled(Exception):
    """Work given up because the run is stopping (a signal reached the main thread).

    Raised in worker threads by a ``cancel`` check
    (:meth:`~unetvocalsep.separator.Separator.separate_file`), so that a
    ``kill`` of a ``-j 2`` batch stops every file within a second and
    commits none that was not finished.
    """


def _raise(signum, frame):
    raise Terminated(signum)


def install():
    """Turn :data:`SIGNALS` into :class:`Terminated` for the rest of the process.

    Used in worker processes. Does nothing outside the main thread.

    Returns
    -------
    dict
        The previous handlers, by signal.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, _raise) for s in SIGNALS}


@contextlib.contextmanager
def terminate_as_exception():
    """Within the block, :data:`SIGNALS` raise :class:`Terminated` in the main thread.

    Outside the main thread (where Python cannot install handlers) the block
    runs unchanged.
    """
    old = install()
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def run_cli(main_func, argv=None, prog="unetvocalsep"):
    """Run a CLI body, turning user-facing errors into one line and an exit code.

    SIGTERM and SIGHUP are handled like Ctrl-C (see
    :func:`terminate_as_exception`), so a ``kill`` removes temporary files too.

    Parameters
    ----------
    main_func : callable
        Called with ``argv``; returns an int exit status or None.
    argv : list of str or None
    prog : str
        Prefix of the error line.

    Returns
    -------
    int
        The exit status: 0 on success, 1 on a user error, 130 on Ctrl-C,
        128 + N on signal N (143 for SIGTERM).
    """
    prog = cli_name(prog)
    try:
        with terminate_as_exception():
            return main_func(argv) or 0
    except (UserError, OSError, MemoryError) as exc:
        print(f"{prog}: error: {describe_error(exc)}", file=sys.stderr)
        return 1
    except Terminated as exc:
        print(f"{prog}: terminated (signal {exc.signum})", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
