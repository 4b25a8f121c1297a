"""Compatibility layer imported before chainer everywhere in the package.

chainer 7.8.1 is frozen (2020).  This module makes ``import chainer`` and the
code paths the package uses work on Python 3.10-3.13, NumPy 1.21-2.x and any
setuptools (or none), and keeps fast-bss-eval working under NumPy 2.  Each
patch is applied only when the running versions need it; :data:`APPLIED`
lists the ones applied in this process:

``environment-check``
    a do-nothing stand-in for ``chainer._environment_check`` when its
    ``numpy.distutils`` / ``pkg_resources`` imports fail;
``np.sctypes``
    NumPy 1.26's ``numpy.sctypes``, restored under NumPy 2 for
    ``F.as_strided``;
:func:`fast_bss_eval_numpy2_fix`
    NumPy 1's ``linalg.solve`` rule for stacks of vectors, inside
    fast-bss-eval only.

docs/COMPAT.md describes every patch, what was checked and what needs none.

Examples
--------
>>> from unetvocalsep import _compat
>>> import chainer
>>> isinstance(_compat.APPLIED, list)
True
"""
import importlib
import sys
import warnings

import numpy

#: Names of the patches applied in this process (in order).
APPLIED = []

#: The imports at the top of ``chainer/_environment_check.py`` (chainer 7.8.1).
ENVIRONMENT_CHECK_IMPORTS = ("numpy.distutils.system_info", "pkg_resources")


def environment_check_fails(import_module=importlib.import_module):
    """Whether chainer's own environment check would fail to import.

    Tries exactly the imports ``chainer/_environment_check.py`` starts with,
    silencing the deprecation warnings they emit (chainer would emit them too,
    and the same modules are then imported again by the real check).

    Parameters
    ----------
    import_module : callable
        ``importlib.import_module`` (tests pass a stand-in).

    Returns
    -------
    bool
        True when any of :data:`ENVIRONMENT_CHECK_IMPORTS` raises.
    """
    for name in ENVIRONMENT_CHECK_IMPORTS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import_module(name)
        except Exception:  # ImportError, or AttributeError / others from inside
            return True
    return False


def make_environment_check_stub():
    """The module registered as ``chainer._environment_check`` when needed.

    Returns
    -------
    types.ModuleType
        With a ``check()`` that does nothing (see the module docstring).
    """
    import types

    module = types.ModuleType(
        "chainer._environment_check",
        "Stand-in for chainer's import-time environment check (unetvocalsep._compat).")

    def check():
        """Do nothing: the real checks only warn, and cannot import here."""

    module.check = check
    module.__unetvocalsep_stub__ = True
    return module


def install_environment_check_stub(modules=None, import_module=importlib.import_module):
    """Register the stand-in check if chainer is not imported yet and its own would fail.

    Parameters
    ----------
    modules : dict or None
        The module table (``sys.modules``; tests pass a copy).
    import_module : callable
        Passed to :func:`environment_check_fails`.

    Returns
    -------
    bool
        Whether the stand-in was registered.
    """
    modules = sys.modules if modules is None else modules
    if "chainer" in modules or "chainer._environment_check" in modules:
        return False  # too late, or already decided
    if not environment_check_fails(import_module):
        return False
    modules["chainer._environment_check"] = make_environment_check_stub()
    return True


def sctypes_missing(np=numpy):
    """Whether ``np.sctypes`` is gone (NumPy >= 2).

    Parameters
    ----------
    np : module
        ``numpy`` (tests pass a stand-in).

    Returns
    -------
    bool
    """
    try:
        np.sctypes
    except AttributeError:
        return True
    return False


def numpy1_sctypes(np=numpy):
    """NumPy 1.26's ``numpy.sctypes``, rebuilt from the scalar types.

    Parameters
    ----------
    np : module

    Returns
    -------
    dict of str to list of type
        Keys ``int``, ``uint``, ``float``, ``complex``, ``others``; the
        sized types by increasing size, the extended-precision ones only
        where they are wider than double (as NumPy 1.26 builds it).
    """
    extended_float = [np.longdouble] if np.dtype(np.longdouble).itemsize > 8 else []
    extended_complex = [np.clongdouble] if np.dtype(np.clongdouble).itemsize > 16 else []
    return {
        "int": [np.int8, np.int16, np.int32, np.int64],
        "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
        "float": [np.float16, np.float32, np.float64] + extended_float,
        "complex": [np.complex64, np.complex128] + extended_complex,
        "others": [bool, object, bytes, str, np.void],
    }


def restore_sctypes(np=numpy):
    """Put ``np.sctypes`` back if it is missing.

    Parameters
    ----------
    np : module

    Returns
    -------
    bool
        Whether it was added.
    """
    if not sctypes_missing(np):
        return False
    np.sctypes = numpy1_sctypes(np)
    return True


def apply():
    """Apply the patches the running versions need (idempotent).

    Returns
    -------
    list of str
        :data:`APPLIED`.
    """
    if "environment-check" not in APPLIED and install_environment_check_stub():
        APPLIED.append("environment-check")
    if "np.sctypes" not in APPLIED and restore_sctypes():
        APPLIED.append("np.sctypes")
    return APPLIED


apply()


def fast_bss_eval_numpy2_fix():
    """Give fast-bss-eval 0.1.4 NumPy 1's ``linalg.solve`` rule for stacks of vectors.

    fast-bss-eval calls ``numpy.linalg.solve(R, b)`` with ``R (..., n, n)`` and
    ``b (..., n)``, meaning a stack of vectors. NumPy < 2 read ``b`` as vectors
    whenever ``b.ndim == R.ndim - 1``; NumPy 2 reads it as vectors only when it
    is 1-D and raises otherwise. Only under NumPy 2, and only inside that one
    module, its ``np`` is replaced by a proxy whose ``linalg.solve`` applies the
    old rule (``solve(R, b[..., None])[..., 0]``); everything else is numpy.
    """
    import types

    import fast_bss_eval.numpy.metrics as metrics

    if int(numpy.__version__.split(".")[0]) < 2 or getattr(metrics.np, "_unetvocalsep_fix", False):
        return

    def solve(a, b):
        b = numpy.asarray(b)
        if b.ndim == numpy.ndim(a) - 1 and b.ndim > 1:
            return numpy.linalg.solve(a, b[..., None])[..., 0]
        return numpy.linalg.solve(a, b)

    class _NumpyProxy(types.ModuleType):
        _unetvocalsep_fix = True

        def __getattr__(self, name):
            return getattr(numpy, name)

    proxy = _NumpyProxy("numpy")
    proxy.linalg = types.SimpleNamespace(**{k: getattr(numpy.linalg, k) for k in dir(numpy.linalg)
                                            if not k.startswith("__")})
    proxy.linalg.solve = solve
    metrics.np = proxy
