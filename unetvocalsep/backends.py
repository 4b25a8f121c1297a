"""The one place that chooses what computes the mask, once, when a model is loaded.

:func:`load_network` turns a model (a path, a name, None for the bundled one,
or a chainer :class:`~unetvocalsep.network.UNet`) into ``net(x) -> mask``, a
callable on arrays of shape (1, 1, 512, frames) that threads may share. What
it builds is decided here and nowhere else (:func:`choose`):

=========  =====================  ========================  =============  =================================
device     ``UNETVOCALSEP_``      ``UNETVOCALSEP_``         onnxruntime    network
           ``FAST_PATH``          ``CPU_BACKEND``           installed
=========  =====================  ========================  =============  =================================
CPU        1 (default)            ``auto`` (default) or     yes            :class:`~unetvocalsep.fast.ortbackend.OnnxNetwork`
                                  ``onnx``
CPU        1 (default)            ``auto`` or ``onnx``      no             :class:`~unetvocalsep.fast.inference.InferencePlan`
CPU        1 (default)            ``plan``                  either         :class:`~unetvocalsep.fast.inference.InferencePlan`
CPU        0                      any                       either         :class:`ChainerNetwork` (the reference)
GPU        any                    any                       either         :class:`ChainerNetwork` on the GPU
=========  =====================  ========================  =============  =================================

The environment is read by one function,
:func:`unetvocalsep.fast.fastpath.environment`;
:func:`~unetvocalsep.fast.fastpath.use_fast_path` and
:func:`~unetvocalsep.fast.fastpath.use_cpu_backend` override it in-process.
The network reads the weights once: a CPU network built from a UNet does not
follow later changes of that UNet's weights until :meth:`UNetNetwork.rebuild`
is called (``compute_mask(unet, mag)`` with the UNet itself always runs the
UNet as it is, through chainer, as the article does).

Examples
--------
>>> net, cfg = load_network(None)          # the bundled model
>>> choose(-1) in ("onnx", "plan")
True
>>> import numpy as np
>>> net(np.zeros((1, 1, 512, 64), np.float32)).shape
(1, 1, 512, 64)
"""
import os
import threading

from .fast import fastpath

__all__ = ["PREFERRED_BACKEND", "choose", "load_network", "ChainerNetwork", "UNetNetwork",
           "is_unet"]

#: What ``auto`` picks when onnxruntime is installed (docs/INFERENCE.md has the
#: side-by-side measurements behind it); without onnxruntime ``auto`` is the plan.
PREFERRED_BACKEND = "onnx"


def onnxruntime_available():
    """Whether onnxruntime and onnx can be imported (the ``[onnx]`` extra).

    Returns
    -------
    bool
    """
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def choose(device=-1):
    """What computes the mask on ``device``: ``'onnx'``, ``'plan'`` or ``'chainer'``.

    The module docstring's table, as code.

    Parameters
    ----------
    device : int or str
        ``-1`` for the CPU, ``N`` or ``'@cupy:N'`` for a GPU.

    Returns
    -------
    str

    Examples
    --------
    >>> with fastpath.use_cpu_backend("plan"):
    ...     choose(-1)
    'plan'
    >>> with fastpath.use_fast_path(False):
    ...     choose(-1)
    'chainer'
    """
    from .device import is_cpu

    if not is_cpu(device) or not fastpath.fast_path_enabled():
        return "chainer"
    name = fastpath.cpu_backend_setting()
    if name == "auto":
        name = PREFERRED_BACKEND
    if name == "onnx" and not onnxruntime_available():
        return "plan"
    return name


class ChainerNetwork:
    """A UNet on a chainer device as a plain callable ``net(x) -> mask``.

    Used on a GPU and for the reference CPU path (``UNETVOCALSEP_FAST_PATH=0``).
    Calls are serialised by a lock, so threads may share one (chainer links
    are not documented as thread-safe, and a GPU gains nothing from two at once).

    Parameters
    ----------
    unet : UNet
        Already on ``device``.
    device : chainer.backend.Device
    """

    def __init__(self, unet, device):
        self.unet, self.device = unet, device
        self._lock = threading.Lock()

    def __call__(self, x):
        from .network import chainer_forward   # chainer: imported only on this path

        with self._lock:
            return chainer_forward(self.unet, x, self.device)


class UNetNetwork:
    """A chainer UNet on the CPU, run by a fast CPU network built from its weights.

    The weights are read when it is made and by :meth:`rebuild`, never per
    call, so a UNet still being trained is seen as it was then.

    Parameters
    ----------
    unet : UNet
        On the CPU.
    kind : {'onnx', 'plan'}
    """

    def __init__(self, unet, kind):
        self.unet, self.kind = unet, kind
        self.rebuild()

    def rebuild(self):
        """Read the UNet's current weights again (after training it further)."""
        from .fast.inference import InferencePlan, unet_params

        params, eps = unet_params(self.unet)
        if self.kind == "onnx":
            from .fast.ortbackend import OnnxNetwork

            self.net = OnnxNetwork(params, eps)
        else:
            self.net = InferencePlan(params, eps)

    def __call__(self, x):
        return self.net(x)


def is_unet(model):
    """Whether ``model`` is a network object rather than a path or None (no chainer import).

    Parameters
    ----------
    model : object

    Returns
    -------
    bool
    """
    return model is not None and not isinstance(model, (str, bytes, os.PathLike))


def load_network(model=None, device=-1):
    """The network to separate with, and the model's settings, chosen by :func:`choose`.

    Parameters
    ----------
    model : str, UNet or None
        An npz path or bundled model name, a UNet instance, or None for the
        bundled model.
    device : int or str
        ``-1`` for the CPU, ``N`` or ``'@cupy:N'`` for a GPU.

    Returns
    -------
    net : callable
        ``net(x) -> mask`` for x of shape (1, 1, 512, frames), float32: an
        :class:`~unetvocalsep.fast.ortbackend.OnnxNetwork`, an
        :class:`~unetvocalsep.fast.inference.InferencePlan`, a
        :class:`UNetNetwork` (a UNet given on the CPU) or a
        :class:`ChainerNetwork`.
    cfg : dict
        The model's settings (:func:`unetvocalsep.model_io.read_config`).

    Raises
    ------
    ModelError, DeviceError
    """
    from .model_io import default_config, load_model, load_params

    kind = choose(device)
    if kind != "chainer":
        if is_unet(model):
            return UNetNetwork(model, kind), default_config()
        params, cfg = load_params(model)
        if kind == "onnx":
            from .fast.ortbackend import OnnxNetwork

            return OnnxNetwork(params, background=True, cache=True), cfg
        from .fast.inference import InferencePlan

        return InferencePlan(params), cfg
    from .device import get_device

    unet, cfg = (model, default_config()) if is_unet(model) else load_model(model)
    dev = get_device(device)
    unet.to_device(dev)
    return ChainerNetwork(unet, dev), cfg
