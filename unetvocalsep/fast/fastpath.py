"""The fast CPU path's switches, and the one function that reads the environment.

Nothing here decides what computes a mask: :mod:`unetvocalsep.backends` does,
from these switches. The fast-path switch (on by default,
``UNETVOCALSEP_FAST_PATH=0`` turns it off) covers both fast CPU paths:

* training: :mod:`unetvocalsep.fast.fastconv`'s chainer ``FunctionNode`` s for the
  4x4 / stride-2 (de)convolutions;
* separation: :mod:`unetvocalsep.fast.inference`'s folded, copy-free NumPy
  forward pass.

With the switch off, chainer's own links run everything (the reference).
The variable's old name, ``UNETVOCALSEP_FASTCONV``, still works (with a
FutureWarning) when the new one is not set.  This module imports nothing
heavy, so the separator can read the switch without importing chainer.

Examples
--------
>>> from unetvocalsep.fast.fastpath import fast_path_enabled, use_fast_path
>>> with use_fast_path(False):
...     fast_path_enabled()
False
"""
import os
import warnings

ENV_VAR = "UNETVOCALSEP_FAST_PATH"
#: The variable's name before 2026-12 (still read, with a warning).
OLD_ENV_VAR = "UNETVOCALSEP_FASTCONV"
BACKEND_ENV_VAR = "UNETVOCALSEP_CPU_BACKEND"
#: The CPU backends of separation: onnxruntime (:mod:`unetvocalsep.fast.ortbackend`)
#: and the NumPy plan (:mod:`unetvocalsep.fast.inference`).
BACKENDS = ("auto", "onnx", "plan")


def _flag(name, value):
    value = value.strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "1", "true", "yes", "on"):
        return True
    raise ValueError("%s must be 0 or 1, got %r" % (name, value))


def environment(environ=None):
    """The package's settings from the environment: the one place that reads them.

    ``UNETVOCALSEP_FAST_PATH`` (0 or 1, default 1; its old name
    ``UNETVOCALSEP_FASTCONV`` still works with a FutureWarning) and
    ``UNETVOCALSEP_CPU_BACKEND`` (``auto``, ``onnx`` or ``plan``; default
    ``auto``). :mod:`unetvocalsep.backends` turns them into a choice.

    Parameters
    ----------
    environ : mapping or None
        ``os.environ`` when None.

    Returns
    -------
    dict
        ``{"fast_path": bool, "cpu_backend": str}``.

    Raises
    ------
    ValueError
        A value that is not one of those above.

    Examples
    --------
    >>> environment({"UNETVOCALSEP_FAST_PATH": "0"})
    {'fast_path': False, 'cpu_backend': 'auto'}
    """
    env = os.environ if environ is None else environ
    name = ENV_VAR
    if ENV_VAR not in env and OLD_ENV_VAR in env:
        name = OLD_ENV_VAR
        warnings.warn(f"{OLD_ENV_VAR} is now called {ENV_VAR}; the old name still works "
                      "for now", FutureWarning, stacklevel=2)
    backend = env.get(BACKEND_ENV_VAR, "auto").strip().lower() or "auto"
    if backend not in BACKENDS:
        raise ValueError("%s must be one of %s, got %r"
                         % (BACKEND_ENV_VAR, ", ".join(BACKENDS), env[BACKEND_ENV_VAR]))
    return {"fast_path": _flag(name, env.get(name, "1")), "cpu_backend": backend}


_state = {"enabled": environment()["fast_path"]}


def fast_path_enabled():
    """Whether the fast CPU path (fastconv for training, the plan for separation) is on.

    Returns
    -------
    bool
    """
    return _state["enabled"]


class use_fast_path:  # noqa: N801  (function-like name, also a context manager)
    """Switch the fast CPU path on or off.

    Used as a plain call it sets the switch for the rest of the process; used
    as a context manager it restores the previous value on exit::

        use_fast_path(False)              # from now on
        with use_fast_path(False):        # only inside the block
            mask = unet(X)

    Parameters
    ----------
    enabled : bool
        ``True``: :func:`~unetvocalsep.fast.fastconv.conv4x4s2` /
        :func:`~unetvocalsep.fast.fastconv.deconv4x4s2` for NumPy inputs in
        :class:`~unetvocalsep.fast.fastunet.FastUNet`, and the NumPy plan or
        onnxruntime for separation (networks loaded afterwards); ``False``:
        chainer's own links for both.
    """

    def __init__(self, enabled=True):
        self._previous = _state["enabled"]
        _state["enabled"] = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._previous
        return False


_backend = {"name": None}


def cpu_backend_setting():
    """The CPU backend asked for: :class:`use_cpu_backend`'s, else the environment's.

    Returns
    -------
    str
        ``'auto'``, ``'onnx'`` or ``'plan'``; :func:`unetvocalsep.backends.choose`
        decides what runs.
    """
    if _backend["name"] is not None:
        return _backend["name"]
    return environment()["cpu_backend"]


class use_cpu_backend:  # noqa: N801  (function-like name, also a context manager)
    """Choose the CPU backend of separation (``'auto'``, ``'onnx'`` or ``'plan'``).

    A plain call sets it for the rest of the process; as a context manager it
    restores the previous choice on exit. It applies to networks loaded
    afterwards (:func:`unetvocalsep.backends.load_network`).

    Parameters
    ----------
    name : str
    """

    def __init__(self, name="auto"):
        if name not in BACKENDS:
            raise ValueError("backend must be one of %s, got %r" % (", ".join(BACKENDS), name))
        self._previous = _backend["name"]
        _backend["name"] = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _backend["name"] = self._previous
        return False
