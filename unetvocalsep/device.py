"""Choosing the compute device: ``-1`` (CPU), ``0`` (first GPU) or chainer's ``@cupy:0`` form."""
from . import _compat  # noqa: F401

from .errors import DeviceError


def get_device(spec=-1):
    """Turn a user's device choice into a ``chainer.backend.Device``.

    Parameters
    ----------
    spec : int, str or None
        ``-1`` / ``None`` / ``'cpu'`` / ``'@numpy'`` for the CPU; ``N >= 0`` or
        ``'@cupy:N'`` for GPU ``N`` through CuPy.

    Returns
    -------
    chainer.backend.Device

    Raises
    ------
    DeviceError
        For a GPU request when CuPy or a CUDA GPU is not available, or an
        unknown specifier.
    """
    import chainer

    if spec is None:
        spec = -1
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s.lstrip("-").isdigit():
            spec = int(s)
        elif s in ("cpu", "numpy"):
            spec = -1
        elif s.startswith("cuda:") and s[5:].isdigit():
            spec = int(s[5:])
    if isinstance(spec, int):
        spec = "@numpy" if spec < 0 else f"@cupy:{spec}"
    if spec.startswith("@cupy"):
        if not chainer.backends.cuda.available:
            raise DeviceError(
                f"GPU device {spec} requested, but CuPy with a working CUDA GPU is not "
                "available here (install 'unetvocalsep[gpu]' on a machine with an NVIDIA GPU, "
                "or use --device -1 for the CPU)")
    try:
        device = chainer.get_device(spec)
        device.use()
    except Exception as exc:
        raise DeviceError(f"cannot use device {spec}: {exc}") from None
    return device
