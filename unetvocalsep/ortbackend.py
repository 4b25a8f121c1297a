"""The onnxruntime CPU backend: the test-mode U-Net run by an ``InferenceSession``.

The graph comes from :func:`unetvocalsep.onnxgraph.build_model` (BatchNorm
folded, from the npz arrays, built in memory: nothing is written to disk).
:class:`OnnxNetwork` is called like the NumPy plan, ``net(x) -> mask`` on
``(batch, 1, 512, T)`` float32 arrays, and is safe to share between threads
(onnxruntime's ``run`` is thread-safe). Which CPU backend separation uses is
:func:`unetvocalsep.fastpath.cpu_backend`; docs/INFERENCE.md gives the
measurements behind the default.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.model_io import load_params
>>> params, _ = load_params()
>>> net = OnnxNetwork(params, threads=1)
>>> net(np.zeros((1, 1, 512, 64), np.float32)).shape
(1, 1, 512, 64)
"""
import importlib.util
import os

import numpy as np

from . import constants
from .onnxgraph import INPUT_NAME, OUTPUT_NAME, build_model

__all__ = ["OnnxNetwork", "onnxruntime_available"]


def onnxruntime_available():
    """Whether onnxruntime and onnx can be imported (the ``[onnx]`` extra).

    Returns
    -------
    bool
    """
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def default_threads():
    """Intra-op threads: ``OMP_NUM_THREADS`` when set, else the CPUs this process may use.

    Returns
    -------
    int
    """
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # macOS, Windows
        return max(1, os.cpu_count() or 1)


class OnnxNetwork:
    """The U-Net's test-mode forward pass in onnxruntime on the CPU.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray
        The npz arrays (:func:`unetvocalsep.model_io.load_params`).
    eps : dict or None
        BatchNormalization name -> eps.
    threads : int or None
        onnxruntime's intra-op threads (default: :func:`default_threads`).

    Attributes
    ----------
    session : onnxruntime.InferenceSession
    threads : int
    """

    def __init__(self, params, eps=None, threads=None):
        import onnxruntime as ort

        self.threads = int(threads) if threads else default_threads()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3   # errors only: nothing on stderr in normal use
        model = build_model(params, eps, check=False)
        self.session = ort.InferenceSession(model.SerializeToString(), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, x):
        """Compute the mask.

        Parameters
        ----------
        x : numpy.ndarray, shape (batch, 1, 512, T), float32
            Normalised magnitude; ``T`` a multiple of 64.

        Returns
        -------
        numpy.ndarray, shape (batch, 1, 512, T), float32
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != constants.N_BINS \
                or x.shape[3] % constants.TIME_MULTIPLE or x.shape[3] == 0:
            raise ValueError("expected an input of shape (batch, 1, 512, T) with T a "
                             "positive multiple of 64, got %s" % (x.shape,))
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
