"""Choosing the compute device: ``-1`` (CPU), ``0`` (first GPU) or chainer's ``@cupy:0`` form.

:func:`parse_device` reads a user's choice without importing chainer (every
CLI and the web use it); :func:`get_device` turns it into a chainer device.

Examples
--------
>>> from unetvocalsep.device import parse_device
>>> parse_device("-1"), parse_device(0), parse_device("@cupy:1"), parse_device("cuda:2")
('@numpy', '@cupy:0', '@cupy:1', '@cupy:2')
"""
import numbers

from .errors import DeviceError


def parse_device(spec=-1):
    """The canonical chainer name of a device choice.

    Parameters
    ----------
    spec : int, str or None
        ``-1`` / ``None`` / ``'cpu'`` / ``'numpy'`` / ``'@numpy'`` for the
        CPU; ``N >= 0``, ``'N'``, ``'cuda:N'`` or ``'@cupy:N'`` for GPU ``N``.

    Returns
    -------
    str
        ``'@numpy'`` or ``'@cupy:N'``.

    Raises
    ------
    DeviceError
        An unknown specifier.
    """
    if spec is None:
        return "@numpy"
    if isinstance(spec, bool):
        raise DeviceError(f"unknown device {spec!r}")
    if isinstance(spec, numbers.Integral):
        return "@numpy" if int(spec) < 0 else f"@cupy:{int(spec)}"
    s = str(spec).strip().lower()
    if s.lstrip("-").isdigit():
        return parse_device(int(s))
    if s in ("cpu", "numpy", "@numpy"):
        return "@numpy"
    for prefix in ("cuda:", "@cupy:", "gpu:"):
        if s.startswith(prefix) and s[len(prefix):].isdigit():
            return f"@cupy:{int(s[len(prefix):])}"
    if s in ("@cupy", "cuda", "gpu"):
        return "@cupy:0"
    raise DeviceError(f"unknown device {spec!r}: use -1 for the CPU, 0 for the first GPU, "
                      "or @cupy:N")


def is_cpu(spec):
    """Whether a device choice means the CPU (without importing chainer).

    Parameters
    ----------
    spec : int, str or None

    Returns
    -------
    bool
    """
    return parse_device(spec) == "@numpy"


def get_device(spec=-1):
    """Turn a user's device choice into a ``chainer.backend.Device``.

    Parameters
    ----------
    spec : int, str or None
        See :func:`parse_device`.

    Returns
    -------
    chainer.backend.Device

    Raises
    ------
    DeviceError
        For a GPU request when CuPy or a CUDA GPU is not available, or an
        unknown specifier.
    """
    name = parse_device(spec)
    from . import _compat  # noqa: F401
    import chainer

    if name.startswith("@cupy") and not chainer.backends.cuda.available:
        raise DeviceError(
            f"GPU device {name} requested, but CuPy with a working CUDA GPU is not "
            "available here (install 'unetvocalsep[gpu]' on a machine with an NVIDIA GPU, "
            "or use --device -1 for the CPU)")
    try:
        device = chainer.get_device(name)
        device.use()
    except Exception as exc:
        raise DeviceError(f"cannot use device {name}: {exc}") from None
    return device
