"""The fast CPU path switch: on by default, ``UNETVOCALSEP_FAST_PATH=0`` turns it off.

One switch covers both fast CPU paths of the package:

* training: :mod:`unetvocalsep.fastconv`'s chainer ``FunctionNode`` s for the
  4x4 / stride-2 (de)convolutions;
* separation: :mod:`unetvocalsep.inference`'s folded, copy-free NumPy
  forward pass.

With the switch off, chainer's own links run everything (the reference).
The variable's old name, ``UNETVOCALSEP_FASTCONV``, still works (with a
FutureWarning) when the new one is not set.  This module imports nothing
heavy, so the separator can read the switch without importing chainer.

Examples
--------
>>> from unetvocalsep.fastpath import fast_path_enabled, use_fast_path
>>> with use_fast_path(False):
...     fast_path_enabled()
False
"""
import os
import warnings

ENV_VAR = "UNETVOCALSEP_FAST_PATH"
#: The variable's name before 2026-12 (still read, with a warning).
OLD_ENV_VAR = "UNETVOCALSEP_FASTCONV"


def _env_default():
    name = ENV_VAR
    if ENV_VAR not in os.environ and OLD_ENV_VAR in os.environ:
        name = OLD_ENV_VAR
        warnings.warn(f"{OLD_ENV_VAR} is now called {ENV_VAR}; the old name still works "
                      "for now", FutureWarning, stacklevel=2)
    value = os.environ.get(name, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "1", "true", "yes", "on"):
        return True
    raise ValueError("%s must be 0 or 1, got %r" % (name, os.environ.get(name)))


_state = {"enabled": _env_default()}


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
        ``True``: :func:`~unetvocalsep.fastconv.conv4x4s2` /
        :func:`~unetvocalsep.fastconv.deconv4x4s2` for NumPy inputs in
        :class:`~unetvocalsep.network.UNet`, and the NumPy inference plan for
        separation; ``False``: chainer's own links for both.
    """

    def __init__(self, enabled=True):
        self._previous = _state["enabled"]
        _state["enabled"] = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._previous
        return False


# ---- which CPU backend separation uses ------------------------------------------
BACKEND_ENV_VAR = "UNETVOCALSEP_CPU_BACKEND"
#: The CPU backends of separation: onnxruntime (:mod:`unetvocalsep.ortbackend`)
#: and the NumPy plan (:mod:`unetvocalsep.inference`).
BACKENDS = ("auto", "onnx", "plan")
#: What ``auto`` picks when onnxruntime is installed (docs/INFERENCE.md has the
#: side-by-side measurements behind it); without onnxruntime ``auto`` is the plan.
PREFERRED_BACKEND = "onnx"

_backend = {"name": None}


def _backend_setting():
    if _backend["name"] is not None:
        return _backend["name"]
    value = os.environ.get(BACKEND_ENV_VAR, "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError("%s must be one of %s, got %r"
                         % (BACKEND_ENV_VAR, ", ".join(BACKENDS), os.environ[BACKEND_ENV_VAR]))
    return value


def onnxruntime_available():
    """Whether onnxruntime and onnx can be imported (the ``[onnx]`` extra).

    Returns
    -------
    bool
    """
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def cpu_backend():
    """The CPU backend separation uses with the fast path on: ``'onnx'`` or ``'plan'``.

    ``auto`` (the default; ``UNETVOCALSEP_CPU_BACKEND`` or :class:`use_cpu_backend`
    choose another) is :data:`PREFERRED_BACKEND` when onnxruntime is installed
    (the ``[onnx]`` extra), otherwise the plan. Asking for ``onnx`` without
    onnxruntime falls back to the plan too.

    Returns
    -------
    str

    Examples
    --------
    >>> with use_cpu_backend("plan"):
    ...     cpu_backend()
    'plan'
    """
    name = _backend_setting()
    if name == "auto":
        name = PREFERRED_BACKEND
    if name == "onnx" and not onnxruntime_available():
        return "plan"
    return name


class use_cpu_backend:  # noqa: N801  (function-like name, also a context manager)
    """Choose the CPU backend of separation (``'auto'``, ``'onnx'`` or ``'plan'``).

    A plain call sets it for the rest of the process; as a context manager it
    restores the previous choice on exit. It applies to networks loaded
    afterwards (:func:`unetvocalsep.model_io.load_network`).

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
