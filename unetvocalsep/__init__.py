"""unetvocalsep: the deep U-Net singing-voice separator of Jansson et al. (ISMIR 2017), in Chainer.

Public API (imported lazily so that ``python -m unetvocalsep.X --help`` is instant):

- :class:`UNet`, :class:`UNetTrainmodel` -- the article's networks;
- :class:`Separator`, :func:`separate`, :func:`separate_file`, :func:`compute_mask`;
- :func:`load_model`, :func:`save_model`, :func:`load_params` (NumPy only);
- :class:`InferencePlan` -- the fast CPU test-mode forward pass;
- :func:`load_audio`, :func:`write_audio`, :func:`stft`, :func:`istft`.
"""
__version__ = "0.1.0"

_LAZY = {
    "UNet": "network", "UNetTrainmodel": "network",
    "Separator": "separate", "separate": "separate", "separate_file": "separate",
    "compute_mask": "separate",
    "load_model": "model_io", "save_model": "model_io", "load_params": "model_io",
    "InferencePlan": "inference",
    "load_audio": "audio", "write_audio": "audio",
    "stft": "spectrogram", "istft": "spectrogram",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'unetvocalsep' has no attribute {name!r}")


def __dir__():
    return __all__
