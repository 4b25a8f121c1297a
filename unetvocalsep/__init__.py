"""unetvocalsep: the deep U-Net singing-voice separator of Jansson et al. (ISMIR 2017), in Chainer.

Public API (imported lazily so that ``python -m unetvocalsep.X --help`` is instant):

- :class:`UNet`, :class:`UNetTrainmodel` -- the article's networks;
- :class:`Separator`, :func:`separate_audio`, :func:`separate_file`, :func:`compute_mask`;
  (``unetvocalsep.separator`` holds the object, ``unetvocalsep.separate`` the functions and the ``separate`` command line);
- :func:`load_model`, :func:`save_model`, :func:`load_params` (NumPy only);
- :class:`InferencePlan` -- the fast CPU test-mode forward pass;
- :func:`load_audio`, :func:`write_audio`, :func:`stft`, :func:`istft`.
"""
__version__ = "0.1.0"

_LAZY = {
    "UNet": "network", "UNetTrainmodel": "network",
    "Separator": "separator", "separate_audio": "separate", "separate_file": "separate",
    "compute_mask": "masking",
    "load_model": "model_io", "save_model": "model_io", "load_params": "model_io",
    "InferencePlan": "fast.inference",
    "load_audio": "audio", "write_audio": "audio",
    "stft": "spectrogram", "istft": "spectrogram",
}

__all__ = sorted(_LAZY) + ["__version__"]


class _ChainerHook:
    """Applies :mod:`unetvocalsep._compat` the moment chainer is first imported.

    ``import unetvocalsep; import chainer`` (in either order, in a notebook,
    under NumPy 2 or Python 3.12+) then works: the compatibility layer runs
    just before chainer's own import, and costs nothing until then.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "chainer":
            import sys

            if self in sys.meta_path:
                sys.meta_path.remove(self)
            from . import _compat  # noqa: F401  (applies the patches on import)
        return None   # the normal finders load chainer itself


def _install_chainer_hook():
    import sys

    if "chainer" not in sys.modules and not any(isinstance(f, _ChainerHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _ChainerHook())


_install_chainer_hook()


def _tune_blas():
    from .fast import blas

    blas.tune()


_tune_blas()   # before NumPy loads OpenBLAS (see unetvocalsep.fast.blas)


def __getattr__(name):
    import importlib

    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    if name.isidentifier() and not name.startswith("_"):
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            # a submodule, imported on first use: unetvocalsep.separate is the
            # module of the separate command (its functions: separate_audio,
            # separate_file), unetvocalsep.spectrogram the STFT module
            return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'unetvocalsep' has no attribute {name!r}")


def __dir__():
    return __all__
