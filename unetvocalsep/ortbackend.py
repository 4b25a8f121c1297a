"""The onnxruntime CPU backend: the test-mode U-Net run by an ``InferenceSession``.

The graph comes from :func:`unetvocalsep.onnxgraph.build_model` (BatchNorm
folded, from the npz arrays, built in memory: nothing is written to disk).
:class:`OnnxNetwork` is called like the NumPy plan, ``net(x) -> mask`` on
``(batch, 1, 512, T)`` float32 arrays, and is safe to share between threads
(calls from several threads take turns, as with the plan). Which CPU backend separation uses is
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
import threading

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
    background : bool
        Build the graph and the session in a thread and return at once; the
        first call waits for it (a fresh process overlaps this with the
        first pass over the audio). An error in the build is raised there.

    Attributes
    ----------
    session : onnxruntime.InferenceSession
    threads : int
    """

    def __init__(self, params, eps=None, threads=None, background=False):
        self.threads = int(threads) if threads else default_threads()
        self._session = None
        self._error = None
        self._thread = None
        # one run at a time: its intra-op threads already use every core, and
        # concurrent runs (batch mode's threads) would each hold their own
        # activations (measured: 1.4 GB instead of 1.0 GB peak for -j 2)
        self._run_lock = threading.Lock()
        if background:
            self._thread = threading.Thread(target=self._build_quietly, args=(params, eps),
                                            name="unetvocalsep-onnx-load", daemon=True)
            self._thread.start()
        else:
            self._build(params, eps)

    def _build(self, params, eps):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3   # errors only: nothing on stderr in normal use
        # no busy-waiting between calls: the pipeline's STFTs run meanwhile on the same cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = build_model(params, eps, check=False)
        self._session = ort.InferenceSession(model.SerializeToString(), options,
                                             providers=["CPUExecutionProvider"])

    def _build_quietly(self, params, eps):
        try:
            self._build(params, eps)
        except BaseException as exc:   # re-raised in the caller's thread by .session
            self._error = exc

    @property
    def session(self):
        """The ``InferenceSession`` (waits for a background build to finish)."""
        thread = self._thread   # several threads may wait at once
        if thread is not None:
            thread.join()
        if self._error is not None:
            raise self._error
        return self._session

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
        session = self.session
        with self._run_lock:
            return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
