"""Reading npz files that may be hostile: no pickle code runs, declared sizes are checked first.

chainer's ``load_npz`` opens files with ``allow_pickle=True``; every model and
snapshot this package reads goes through :func:`read_npz_safely` instead,
after :func:`check_regular_file` (a regular file of bounded size: no FIFO,
device or zip bomb).

Examples
--------
>>> from unetvocalsep.model_io import DEFAULT_MODEL
>>> arrays = read_npz_safely(DEFAULT_MODEL)
>>> arrays['conv1/W'].shape
(16, 1, 4, 4)
"""
import os
import pickle
import zipfile

import numpy as np

from . import constants
from .errors import ModelError

#: Largest model or snapshot file accepted (the float32 model is 25 MB, a
#: trainer snapshot with Adam's moments about 80 MB).
MAX_MODEL_FILE_BYTES = 512 * 2 ** 20
#: Largest settings JSON accepted (a real one is under 2 kB).
MAX_CONFIG_BYTES = 2 ** 20
#: Largest total of the arrays an npz may declare, uncompressed: float64
#: weights with two Adam moments and room to spare. A zip bomb declaring
#: more is refused before anything is inflated.
MAX_NPZ_BYTES = 8 * 8 * sum(int(np.prod(s)) for s in constants.parameter_shapes().values())
#: Largest one array may declare: the biggest weight (deconv1/W) in float64,
#: plus the npy header.
MAX_NPZ_ENTRY_BYTES = 8 * max(int(np.prod(s)) for s in constants.parameter_shapes().values()) \
    + 4096


def check_regular_file(path, max_bytes, what):
    """Refuse a path that is not a regular file of at most ``max_bytes``.

    A FIFO would hang the reader and ``/dev/zero`` would be read until the
    memory runs out, so the type and size are checked before opening.

    Parameters
    ----------
    path : str
    max_bytes : int
    what : str
        ``'model file'``, ``'model settings'``...

    Raises
    ------
    ModelError
    """
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelError(f"no such {what}: {path}") from None
    except OSError as exc:
        raise ModelError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelError(f"is a folder, not a {what}: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise ModelError(f"not a regular file (a device, pipe or socket), not a {what}: {path}")
    if st.st_size > max_bytes:
        raise ModelError(f"{what} {path} is {st.st_size / 2 ** 20:.0f} MiB, more than any "
                    f"{what} of this network ({max_bytes / 2 ** 20:.0f} MiB at most)")


class _NoneOnly(pickle.Unpickler):
    """Unpickles only what ``numpy.save`` writes for ``numpy.asarray(None)``."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise ModelError(f"refers to the Python object {module}.{name}")


def _npy_header(f):
    """``(shape, dtype)`` from the header of an ``.npy`` stream (public NumPy API only)."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(f)
    else:   # 3.0 (utf-8 field names): only the private reader knows it
        shape, _, dtype = fmt._read_array_header(f, version)
    return shape, dtype


def read_npz_safely(path):
    """Read every array of an npz without running any pickle code.

    chainer's ``load_npz`` opens files with ``allow_pickle=True``, so an npz
    holding a pickled object runs it. This reads the file with
    ``allow_pickle=False``; the one object array chainer itself writes, a
    0-d array holding ``None``, is decoded by an unpickler that can build
    nothing but NumPy arrays, and must turn out to be ``None``.

    Parameters
    ----------
    path : str

    Returns
    -------
    dict
        Key (without ``.npy``) -> numpy array.

    Raises
    ------
    ModelError
        Not an npz, corrupt, or holding a Python object.
    """
    import io

    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            # the declared sizes bound what is inflated (zipfile stops at them and
            # then fails the CRC check), so a zip bomb is refused before reading
            declared = 0
            for info in z.infolist():
                declared += info.file_size
                if info.file_size > MAX_NPZ_ENTRY_BYTES or declared > MAX_NPZ_BYTES:
                    raise ModelError(f"model file {path} declares {info.filename} of "
                                     f"{info.file_size / 2 ** 20:.0f} MiB ({declared / 2 ** 20:.0f} "
                                     f"MiB in all): more than this network's weights; refusing "
                                     f"to inflate it")
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with z.open(info) as f:
                    data = f.read()
                b = io.BytesIO(data)
                shape, dtype = _npy_header(b)
                if dtype.hasobject:
                    try:
                        value = _NoneOnly(b).load()
                    except ModelError as exc:
                        raise ModelError(f"model file {path} holds a pickled Python object in {key} "
                                         f"({exc}); refusing to load it") from None
                    if not (isinstance(value, np.ndarray) and value.shape == () and value[()] is None):
                        raise ModelError(f"model file {path} holds a Python object in {key}; "
                                         "refusing to load it")
                    out[key] = value
                else:
                    out[key] = np.load(io.BytesIO(data), allow_pickle=False)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"corrupt model file {path}: {type(exc).__name__}: {exc}") from None
    return out
