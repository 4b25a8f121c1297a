"""Saving and loading models: an npz of the UNet's weights plus a JSON of its settings.

The npz is exactly what ``chainer.serializers.save_npz(path, unet)`` writes,
so it loads into the article's own ``UNet`` class. The JSON next to it
(``model.npz`` -> ``model.json``) records the hyperparameters the weights
were trained with; :func:`load_model` checks them against the article's
constants so that a model is never run with the wrong STFT.
"""
import json
import os
import zipfile

import numpy as np

from . import constants
from .errors import ModelError
from .files import atomic_path
from .npzfile import MAX_CONFIG_BYTES, MAX_MODEL_FILE_BYTES, check_regular_file, read_npz_safely

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
MODEL_TARGETS = ("vocal", "inst", "accompaniment")
#: dtypes a weight array may have.
WEIGHT_DTYPES = ("float16", "float32", "float64")


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
        :data:`MODEL_TARGETS`, or STFT settings other than the article's.
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
    if cfg.get("target", "vocal") not in MODEL_TARGETS:
        raise ModelError(f"model settings {cpath}: unknown target {cfg['target']!r} "
                         f"(one of {', '.join(MODEL_TARGETS)})")
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


def describe_model(model, cfg):
    """Which model is in use and under which terms, for a summary line or a page.

    Parameters
    ----------
    model : str, os.PathLike, None or object
        What the user asked for (``None``: the default; a bundled name; a
        path); anything else (a UNet given in Python) is named by its type.
    cfg : dict
        Its settings, as :func:`load_model` returns them.

    Returns
    -------
    dict
        ``name`` (the bundled name, or the path as given), ``bundled`` (bool),
        ``licence`` (the terms recorded with the weights, or a sentence saying
        none were), ``licence_short`` (their first clause), ``iterations``
        (``None`` when not recorded) and ``summary`` (``'NAME (LICENCE_SHORT)'``,
        for a line on stderr).

    Examples
    --------
    >>> _, cfg = load_model("free")
    >>> describe_model("free", cfg)["licence_short"]
    'GPL-3.0-or-later, to be safe'
    """
    bundled = False
    if model is None or isinstance(model, (str, os.PathLike)):
        path = model_path(model) or DEFAULT_MODEL
        name = os.fspath(model) if model is not None else "default"
        for bname, bpath in bundled_models().items():
            if os.path.abspath(path) == os.path.abspath(bpath):
                name, bundled = bname, True
    else:
        name = f"a {type(model).__name__} given in Python"
    licence = cfg.get("licence")
    if not isinstance(licence, str) or not licence.strip():
        licence = "not recorded with these weights (ask whoever trained them)"
    cut = min(i for i in (licence.find(":"), licence.find(" ("), len(licence)) if i >= 0)
    iterations = cfg.get("total_iterations", cfg.get("iterations"))
    short = licence[:cut].strip()
    return {"name": name, "bundled": bundled, "licence": licence, "licence_short": short,
            "iterations": iterations if isinstance(iterations, int) else None,
            "summary": f"{name} ({short})"}


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


