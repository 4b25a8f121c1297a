"""Saving and loading models: an npz of the UNet's weights plus a JSON of its settings.

The npz is exactly what ``chainer.serializers.save_npz(path, unet)`` writes,
so it loads into the article's own ``UNet`` class. The JSON next to it
(``model.npz`` -> ``model.json``) records the hyperparameters the weights
were trained with; :func:`load_model` checks them against the article's
constants so that a model is never run with the wrong STFT.
"""
import json
import os
import pickle
import zipfile

import numpy as np

from . import constants
from .errors import ModelError

#: The bundled default model (``unetvocalsep/models/default.npz`` + ``.json``).
DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "models", "default.npz")

#: Settings a model must agree with to be used by this package.
_REQUIRED = {"sr": constants.SR, "n_fft": constants.N_FFT, "hop": constants.HOP}


def default_config(**extra):
    """The settings stored next to every model.

    Parameters
    ----------
    **extra
        Training facts to record (``target``, ``iterations``, ``data``...).

    Returns
    -------
    dict
    """
    from . import __version__

    cfg = {
        "architecture": "UNet (Jansson et al. 2017, Chainer article)",
        "sr": constants.SR,
        "n_fft": constants.N_FFT,
        "win_length": constants.WIN_LENGTH,
        "hop": constants.HOP,
        "patch": constants.PATCH,
        "n_bins": constants.N_BINS,
        "target": "vocal",
        "package_version": __version__,
    }
    cfg.update(extra)
    return cfg


def config_path(model_path):
    """The JSON file that belongs to ``model_path``.

    Parameters
    ----------
    model_path : str

    Returns
    -------
    str
    """
    return os.path.splitext(os.fspath(model_path))[0] + ".json"


def save_model(path, unet, cfg=None, dtype=None):
    """Write ``unet`` to ``path`` (npz) and its settings to the matching JSON, atomically.

    Parameters
    ----------
    path : str
        Ends in ``.npz``.
    unet : UNet
    cfg : dict or None
        Settings; :func:`default_config` is used for missing keys.
    dtype : {None, 'float16'}
        Store the weights as float16 (half the size); they are converted back
        to float32 on loading.
    """
    from .files import atomic_path
    from . import _compat  # noqa: F401
    from chainer import serializers

    path = os.fspath(path)
    full = default_config()
    full.update(cfg or {})
    full["storage_dtype"] = dtype or "float32"
    with atomic_path(path, overwrite=True) as tmp:
        if dtype is None:
            # uncompressed: zlib saves under 10 % on float weights but makes
            # loading 8x slower (0.10 s vs 0.01 s for the bundled model)
            serializers.save_npz(tmp, unet, compression=False)
        else:
            target = {}  # the same keys that save_npz writes
            serializers.DictionarySerializer(target).save(unet)
            arrays = {k: (np.asarray(v).astype(dtype) if np.asarray(v).dtype.kind == "f" else np.asarray(v))
                      for k, v in target.items()}
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
    with atomic_path(config_path(path), overwrite=True) as tmp:
        with open(tmp, "w") as f:
            json.dump(full, f, indent=2, sort_keys=True)
            f.write("\n")


#: Fields of a model's JSON that the package reads, with their types.
_FIELD_TYPES = {"sr": int, "n_fft": int, "win_length": int, "hop": int, "patch": int,
                "n_bins": int, "target": str, "storage_dtype": str}
#: Values of ``target``: what the mask selects.
TARGETS = ("vocal", "inst", "accompaniment")
#: dtypes a weight array may have.
WEIGHT_DTYPES = ("float16", "float32", "float64")


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


def read_config(path):
    """Read the settings JSON of a model; defaults to the article's when absent.

    Parameters
    ----------
    path : str
        The npz path.

    Returns
    -------
    dict

    Raises
    ------
    ModelError
        Unreadable JSON, a field of the wrong type, a ``target`` other than
        :data:`TARGETS`, or STFT settings other than the article's.
    """
    cpath = config_path(path)
    if not os.path.lexists(cpath):
        return default_config(note="no settings file; the article's settings were assumed")
    check_regular_file(cpath, MAX_CONFIG_BYTES, "model settings file")
    try:
        with open(cpath) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model settings {cpath}: {exc}") from None
    except RecursionError:
        raise ModelError(f"cannot read model settings {cpath}: nested too deeply") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"model settings are not a JSON object: {cpath}")
    for key, kind in _FIELD_TYPES.items():
        if key in cfg and (not isinstance(cfg[key], kind) or isinstance(cfg[key], bool)):
            raise ModelError(f"model settings {cpath}: {key!r} must be a JSON "
                             f"{'integer' if kind is int else 'string'}, got {json.dumps(cfg[key])}")
    if cfg.get("target", "vocal") not in TARGETS:
        raise ModelError(f"model settings {cpath}: unknown target {cfg['target']!r} "
                         f"(one of {', '.join(TARGETS)})")
    for key, want in _REQUIRED.items():
        if key in cfg and cfg[key] != want:
            raise ModelError(f"model {path} was trained with {key}={cfg[key]}, this package uses {want}")
    return cfg


def is_inst_model(cfg):
    """Whether a model's mask selects the accompaniment (``target`` inst/accompaniment).

    Parameters
    ----------
    cfg : dict

    Returns
    -------
    bool
    """
    return cfg.get("target", "vocal") in ("inst", "accompaniment")


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


def _check_arrays(arrays, path, prefix=""):
    """Check the UNet's arrays in ``arrays``: present, right shape, float dtype, finite."""
    params = {}
    for name, shape in constants.parameter_shapes().items():
        key = prefix + name
        if key not in arrays:
            raise ModelError(f"model {path} does not fit the UNet: {key} is missing")
        value = arrays[key]
        if value.shape != shape:
            raise ModelError(
                f"model {path} does not fit the UNet: {key} has shape "
                f"{value.shape}, expected {shape}")
        if name.endswith("/N"):   # BatchNorm's update count: an integer
            if value.dtype.kind not in "iuf":
                raise ModelError(f"model {path} has {value.dtype} values in /{name}")
        elif value.dtype.name not in WEIGHT_DTYPES:
            raise ModelError(f"model {path} has {value.dtype} weights in /{name} "
                             f"(expected {', '.join(WEIGHT_DTYPES)})")
        if not np.all(np.isfinite(value)):
            raise ModelError(f"model {path} has non-finite weights in /{name}")
        params[name] = value
    return params


def bundled_models():
    """The models shipped in the package, by name: ``{'default': path, ...}``.

    ``--model NAME`` and ``Separator(model=NAME)`` take these names as well
    as paths (a file of that name in the current folder wins).

    Returns
    -------
    dict

    Examples
    --------
    >>> "default" in bundled_models()
    True
    """
    folder = os.path.dirname(DEFAULT_MODEL)
    try:
        names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".npz"))
    except OSError:
        return {}
    return {n: os.path.join(folder, n + ".npz") for n in names}


def model_path(model):
    """A model argument as a path: None and bundled names become the bundled files.

    Parameters
    ----------
    model : str, os.PathLike or None

    Returns
    -------
    str or None
        None stays None (the caller's default).
    """
    if model is None:
        return None
    model = os.fspath(model)
    if not os.path.exists(model) and os.sep not in model:
        bundled = bundled_models()
        if model in bundled:
            return bundled[model]
    return model


def _checked_model_file(path):
    """Resolve ``path`` (None: the bundled model) and check it is a UNet npz.

    Returns
    -------
    path : str
    prefix : str
        Key prefix of the UNet's arrays (``''``, or e.g.
        ``'updater/model:main/unet/'`` in a trainer snapshot).
    cfg : dict
    arrays : dict
        Every array of the file, read without pickle (:func:`read_npz_safely`).
    """
    path = model_path(path)
    if path is None:
        path = DEFAULT_MODEL
        if not os.path.exists(path):
            raise ModelError(
                "no bundled model in this installation; train one with "
                "'python -m unetvocalsep.train CACHE_DIR --out result' and pass "
                "--model result/unet.npz")
    path = os.fspath(path)
    if not os.path.exists(path):
        names = ", ".join(bundled_models()) or "none"
        raise ModelError(f"no such model file: {path} (bundled models by name: {names})")
    check_regular_file(path, MAX_MODEL_FILE_BYTES, "model file")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise ModelError(f"permission denied: {path}") from None
    if not zipfile.is_zipfile(path):
        raise ModelError(f"not a model file (expected a chainer npz): {path}")
    arrays = read_npz_safely(path)
    prefix = ""
    if "conv1/W" not in arrays:
        snap = [k[:-len("conv1/W")] for k in arrays if k.endswith("/conv1/W")]
        if not snap:
            raise ModelError(f"not a UNet model (no conv1/W weights): {path}")
        prefix = snap[0]
    return path, prefix, read_config(path), arrays


def load_params(path=None):
    """Load a model's arrays with NumPy only (no chainer import).

    This is what the CPU separator uses: it feeds
    :class:`unetvocalsep.fast.inference.InferencePlan` and saves the second or so
    that importing chainer and building a ``UNet`` take. The checks are those
    of :func:`load_model`: every array of
    :func:`unetvocalsep.constants.parameter_shapes` present with its shape, all
    values finite.

    Parameters
    ----------
    path : str or None
        As for :func:`load_model`.

    Returns
    -------
    params : dict
        Name (``'conv1/W'``, ``'norm1/avg_mean'``, ...) -> numpy array as
        stored (float32, or float16 for a half-precision file).
    cfg : dict

    Raises
    ------
    ModelError
        Missing, corrupt or wrong-shaped file.
    """
    path, prefix, cfg, arrays = _checked_model_file(path)
    return _check_arrays(arrays, path, prefix), cfg


def load_model(path=None):
    """Load a UNet and its settings.

    Parameters
    ----------
    path : str or None
        An npz written by :func:`save_model`, by ``serializers.save_npz(path,
        unet)`` (the article's ``unet.model``), or a trainer snapshot. ``None``
        loads the model bundled with the package.

    Returns
    -------
    unet : UNet
    cfg : dict

    Raises
    ------
    ModelError
        Missing, corrupt or wrong-shaped file.
    """
    from .network import UNet
    from chainer import serializers

    path, prefix, cfg, arrays = _checked_model_file(path)
    _check_arrays(arrays, path, prefix)
    unet = UNet()
    try:   # from the arrays read without pickle, never from the file again
        serializers.NpzDeserializer(arrays, path=prefix).load(unet)
    except Exception as exc:
        raise ModelError(f"model {path} does not fit the UNet: {type(exc).__name__}: {exc}") from None
    return unet, cfg


def load_snapshot(path, trainer):
    """Resume a ``chainer.training.Trainer`` from a snapshot, without running pickle code.

    Parameters
    ----------
    path : str
        A snapshot written by the trainer (``snapshot_iter_N``).
    trainer : chainer.training.Trainer

    Raises
    ------
    ModelError
        Missing, corrupt, holding a Python object, or not this trainer's.
    """
    from chainer import serializers

    path = os.fspath(path)
    if not os.path.lexists(path):
        raise ModelError(f"no such snapshot: {path}")
    check_regular_file(path, MAX_MODEL_FILE_BYTES, "trainer snapshot")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"not a trainer snapshot (expected a chainer npz): {path}")
    arrays = read_npz_safely(path)
    try:
        serializers.NpzDeserializer(arrays).load(trainer)
    except Exception as exc:
        raise ModelError(f"cannot resume from {path}: {type(exc).__name__}: {exc}") from None
    check_trainer_state(trainer, path)


def check_trainer_state(trainer, path):
    """Refuse a resumed state whose numbers would exhaust memory or fail later.

    An iterator position past its dataset (``current_position`` 1e9 once made
    chainer slice a billion crops) or an order that is not a permutation of
    it, and optimizer moments whose shape is not their parameter's.

    Parameters
    ----------
    trainer : chainer.training.Trainer
    path : str
        The snapshot, for the message.

    Raises
    ------
    ModelError
    """
    updater = trainer.updater
    for name, it in getattr(updater, "_iterators", {}).items():
        n = len(getattr(it, "dataset", ()) or ())
        pos = getattr(it, "current_position", 0)
        if n and not (isinstance(pos, (int, np.integer)) and 0 <= pos < n):
            raise ModelError(f"snapshot {path}: iterator {name!r} is at position {pos} of a "
                             f"dataset of {n}; not this run's snapshot")
        order = getattr(it, "_order", None)
        if order is not None and (len(order) != n or not np.array_equal(np.sort(order),
                                                                        np.arange(n))):
            raise ModelError(f"snapshot {path}: iterator {name!r} has an order that is not a "
                             f"permutation of its {n} examples; not this run's snapshot")
    for oname, opt in getattr(updater, "_optimizers", {}).items():
        for pname, param in opt.target.namedparams():
            rule = getattr(param, "update_rule", None)
            state = getattr(rule, "state", None) or {}
            for key, value in state.items():
                shape = getattr(value, "shape", None)
                if shape is not None and param.array is not None and shape != param.array.shape:
                    raise ModelError(f"snapshot {path}: optimizer state {pname}/{key} has shape "
                                     f"{shape}, its parameter {param.array.shape}")
