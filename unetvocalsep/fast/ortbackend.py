"""The network as an ONNX graph, and the onnxruntime CPU backend that runs it.

**The graph** (:func:`build_model`) is the test-mode U-Net written with
``onnx.helper`` from the npz arrays. chainer's own exporter
(``onnx_chainer``) needs ``onnx<1.7`` and cannot be imported with a current
onnx, so the graph is written directly from the same parameters the NumPy
plan uses (:mod:`unetvocalsep.fast.inference`): BatchNormalization folded
into the (de)convolutions, dropout gone (test mode), and the skips
concatenated in the article's order ``(decoder, encoder)``. It has one input
and one output (docs/ONNX.md):

* ``magnitude``: float32, shape ``(batch, 1, 512, frames)``, the mixture's
  16 kHz magnitude bins 1..512 divided by the track's maximum; ``frames`` a
  multiple of 64 (both axes are dynamic);
* ``mask``: float32, the same shape, the sigmoid vocal mask in (0, 1).

Only standard operators of opset 13 are used (Conv, ConvTranspose,
LeakyRelu, Relu, Concat, Sigmoid), so onnxruntime on any platform,
onnxruntime-web and other runtimes can run it.

**The backend** (:class:`OnnxNetwork`) builds the graph in memory and keeps
the serialised graph in ``$XDG_CACHE_HOME/unetvocalsep/onnx/``
(``~/.cache/...``), named by a hash of the arrays, so that a fresh process
loads it straight into onnxruntime without importing onnx or building
anything (``UNETVOCALSEP_ONNX_CACHE=0`` turns that off; a cache that cannot
be written or read is rebuilt in memory). It is called like the NumPy plan,
``net(x) -> mask`` on ``(batch, 1, 512, T)`` float32 arrays, and is safe to
share between threads (calls from several threads take turns). Whether
separation uses it is decided by :func:`unetvocalsep.backends.choose`;
docs/INFERENCE.md gives the measurements behind the default.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.model_io import load_params
>>> params, cfg = load_params()
>>> model = build_model(params)
>>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
(['magnitude'], ['mask'])
>>> len(model.graph.node)
29
>>> net = OnnxNetwork(params, threads=1)
>>> net(np.zeros((1, 1, 512, 64), np.float32)).shape
(1, 1, 512, 64)
"""
import contextlib
import os
import threading

import numpy as np

from .. import constants
from ..errors import UserError
from ..files import atomic_path
from .inference import LEAKY_SLOPE, check_input, folded_layers

__all__ = ["OnnxNetwork", "graph_cache_path", "build_model", "INPUT_NAME", "OUTPUT_NAME", "OPSET"]

#: Bump when the graph builder (:func:`build_model`) writes a different graph for the same
#: arrays, so that cached files of the old graph are not used.
GRAPH_VERSION = 1
CACHE_ENV_VAR = "UNETVOCALSEP_ONNX_CACHE"
INPUT_NAME = "magnitude"
OUTPUT_NAME = "mask"
#: ONNX opset of the graph (every operator it uses is unchanged since 13).
OPSET = 13
#: IR version written into the file: 7 is what onnxruntime 1.6+ and
#: onnxruntime-web read, and opset 13 needs no newer one.
IR_VERSION = 7


def build_model(params, eps=None, producer_version=None, check=True):
    """The ONNX ``ModelProto`` of the test-mode network.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray
        As for :func:`unetvocalsep.fast.inference.folded_layers` (from
        :func:`unetvocalsep.model_io.load_params`).
    eps : dict or None
        BatchNormalization name -> eps.
    producer_version : str or None
        Written into the file's metadata (default: the package version).
    check : bool
        Run ``onnx.checker.check_model`` on the result.

    Returns
    -------
    onnx.ModelProto
        Input ``magnitude`` and output ``mask``, both float32
        ``(batch, 1, 512, frames)`` with ``batch`` and ``frames`` dynamic.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    conv_attrs = dict(kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
    layers = {name: (W, b) for name, W, b in folded_layers(params, eps)}

    def layer(op, name, x, out):
        W, b = layers[name]
        inits.append(numpy_helper.from_array(W, name + "/W"))
        inits.append(numpy_helper.from_array(b, name + "/b"))
        nodes.append(helper.make_node(op, [x, name + "/W", name + "/b"], [out],
                                      name=name, **conv_attrs))

    x = INPUT_NAME
    skips = []
    for i in range(1, 7):
        layer("Conv", "conv%d" % i, x, "conv%d_out" % i)
        x = "h%d" % i
        nodes.append(helper.make_node("LeakyRelu", ["conv%d_out" % i], [x],
                                      alpha=LEAKY_SLOPE, name="lrelu%d" % i))
        skips.append(x)
    for i in range(1, 7):
        if i > 1:   # F.concat((dh, h_{7-i})): decoder channels first
            cat = "cat%d" % i
            nodes.append(helper.make_node("Concat", [x, skips[6 - i]], [cat], axis=1,
                                          name=cat))
            x = cat
        out = "deconv%d_out" % i
        layer("ConvTranspose", "deconv%d" % i, x, out)
        if i < 6:
            x = "dh%d" % i
            nodes.append(helper.make_node("Relu", [out], [x], name="relu%d" % i))
        else:
            nodes.append(helper.make_node("Sigmoid", [out], [OUTPUT_NAME], name="sigmoid"))

    shape = ["batch", 1, constants.N_BINS, "frames"]
    graph = helper.make_graph(
        nodes, "unetvocalsep_unet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, shape)],
        initializer=inits)
    if producer_version is None:
        from .. import __version__ as producer_version
    model = helper.make_model(graph, producer_name="unetvocalsep",
                              producer_version=str(producer_version),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = ("Jansson et al. (ISMIR 2017) U-Net vocal mask, test mode, "
                        "BatchNorm folded. Input: 16 kHz magnitude bins 1..512 of a "
                        "1024/512 Hann STFT divided by the track's maximum, frames a "
                        "multiple of 64. Output: vocal mask in (0, 1).")
    if check:
        onnx.checker.check_model(model)
    return model


def graph_cache_path(params):
    """Where the serialised graph of ``params`` is cached, or None when caching is off.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray

    Returns
    -------
    str or None
        ``$XDG_CACHE_HOME/unetvocalsep/onnx/<sha256>-g<GRAPH_VERSION>.onnx``, the hash
        taken over the arrays and the source of this module (the graph builder).
    """
    import hashlib

    if os.environ.get(CACHE_ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    h = hashlib.sha256()
    try:   # a changed graph builder never reuses the graphs of the old one
        with open(__file__, "rb") as f:
            h.update(f.read())
    except OSError:
        pass
    for key in sorted(params):
        a = np.ascontiguousarray(params[key])
        h.update(("%s %s %s;" % (key, a.dtype.str, a.shape)).encode())
        h.update(memoryview(a).cast("B"))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "unetvocalsep", "onnx", "%s-g%d.onnx" % (h.hexdigest(), GRAPH_VERSION))


def _write_cache(path, data):
    """Write ``data`` to ``path`` atomically; a cache that cannot be written is skipped."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
        _prune_cache(os.path.dirname(path))
    except (OSError, UserError):
        pass


#: Cached graphs kept (25 MB each); the least recently written go first.
CACHE_KEEP = 8


def _prune_cache(folder, keep=CACHE_KEEP):
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".onnx")
             and not f.startswith(".")]
    files.sort(key=lambda f: os.stat(f).st_mtime, reverse=True)
    for f in files[keep:]:
        with contextlib.suppress(OSError):
            os.remove(f)


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
    cache : bool
        Load the serialised graph from :func:`graph_cache_path` when it is
        there, and write it there after a build (the default CPU backend does;
        default off here).

    Attributes
    ----------
    session : onnxruntime.InferenceSession
    threads : int
    """

    def __init__(self, params, eps=None, threads=None, background=False, cache=False):
        self.threads = int(threads) if threads else default_threads()
        self._session = None
        self._error = None
        self._thread = None
        # one run at a time: its intra-op threads already use every core, and
        # concurrent runs (batch mode's threads) would each hold their own
        # activations (measured: 1.4 GB instead of 1.0 GB peak for -j 2)
        self._run_lock = threading.Lock()
        if background:
            # not a daemon: a process that exits (or is terminated) during the
            # build waits for it, instead of finalising while onnxruntime's native
            # code runs in this thread (that aborted with SIGABRT on Python 3.13)
            self._thread = threading.Thread(target=self._build_quietly, args=(params, eps, cache),
                                            name="unetvocalsep-onnx-load")
            self._thread.start()
        else:
            self._build(params, eps, cache)

    def _build(self, params, eps, cache=False):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3   # errors only: nothing on stderr in normal use
        # no busy-waiting between calls: the pipeline's STFTs run meanwhile on the same cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = graph_cache_path(params) if cache and not eps else None
        if path is not None and os.path.exists(path):
            try:
                self._session = ort.InferenceSession(path, options,
                                                     providers=["CPUExecutionProvider"])
                return
            except Exception:   # unreadable or damaged: rebuild it below
                pass
        data = build_model(params, eps, check=False).SerializeToString()
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        if path is not None:
            _write_cache(path, data)

    def _build_quietly(self, params, eps, cache):
        try:
            self._build(params, eps, cache)
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
        check_input(x)
        session = self.session
        with self._run_lock:
            return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
