"""Faster CPU kernels for the U-Net's 4x4 / stride-2 / pad-1 (de)convolutions (training).

chainer 7.8.1 spends about 80 % of a CPU training step in im2col/col2im
copies.  Here the same functions are one contiguous GEMM per call after a
space-to-depth split of the input (a 4x4 / stride-2 convolution over ``C``
channels is a 2x2 / stride-1 one over ``4 C``), in a channels-last or
channels-first layout chosen per call; backward passes reuse the same two
primitives.  :meth:`unetvocalsep.fast.fastunet.FastUNet._conv` calls
:func:`conv4x4s2` / :func:`deconv4x4s2` for NumPy inputs when the fast CPU
path is on (:mod:`unetvocalsep.fast.fastpath`); CuPy arrays always take the plain
links.  docs/FASTCONV.md has the layout, the switch and the measurements.

Over 500 lines on purpose: a measured kernel (its forward and backward
functions share the layout helpers and were timed together), kept in one
file so that the timings in docs/FASTCONV.md describe one unit.

Examples
--------
>>> import numpy as np
>>> x = np.zeros((1, 1, 512, 128), np.float32)
>>> W = np.zeros((16, 1, 4, 4), np.float32); b = np.zeros(16, np.float32)
>>> conv4x4s2(x, W, b).shape
(1, 16, 256, 64)
"""
from .. import _compat  # noqa: F401  (must precede chainer)

import numpy as np

import chainer
import chainer.functions as F
import chainer.links  # noqa: F401  (function_for checks link types)
from chainer import function_node

__all__ = [
    "conv4x4s2",
    "deconv4x4s2",
    "use_fast_path",
    "fast_path_enabled",
    "is_fast_input",
]

from .fastpath import _state, fast_path_enabled, use_fast_path  # noqa: E402,F401  (the switch)
from .convlayout import (  # noqa: E402  (the layout primitives)
    _batch_chunks, _bias_grad, _empty_matrix, _from_matrix, _im2col, _matmul_col2im, _mm,
    _mm_into, _to_matrix, _weight_from_matrix, _weight_matrix)


def is_fast_input(x):
    """Whether ``x`` (array or Variable) would take the fast path.

    Parameters
    ----------
    x : numpy.ndarray, cupy.ndarray or chainer.Variable

    Returns
    -------
    bool
        True when the switch is on and ``x`` holds a NumPy array.
    """
    data = x.array if isinstance(x, chainer.Variable) else x
    return _state["enabled"] and isinstance(data, np.ndarray)


def function_for(link):
    """The fast function equivalent to ``link``, or None.

    Parameters
    ----------
    link : chainer.Link

    Returns
    -------
    callable or None
        :func:`conv4x4s2` for an initialised ``L.Convolution2D(*, *, 4, 2, 1)``,
        :func:`deconv4x4s2` for an initialised ``L.Deconvolution2D(*, *, 4, 2,
        1)`` (no ``outsize``), None for anything else (groups, dilation, other
        kernel sizes, uninitialised weights).
    """
    W = getattr(link, "W", None)
    if W is None or W.array is None or W.ndim != 4 or W.shape[2:] != (4, 4):
        return None
    if getattr(link, "groups", 1) != 1:
        return None
    if tuple(_pair(getattr(link, "stride", None))) != (2, 2):
        return None
    if tuple(_pair(getattr(link, "pad", None))) != (1, 1):
        return None
    if isinstance(link, chainer.links.Deconvolution2D):
        if link.outsize is not None and tuple(link.outsize) != (None, None):
            return None
        return deconv4x4s2
    if isinstance(link, chainer.links.Convolution2D):
        if tuple(_pair(getattr(link, "dilate", 1))) != (1, 1):
            return None
        return conv4x4s2
    return None


def _pair(v):
    return v if isinstance(v, (tuple, list)) else (v, v)


# The memory layouts ("cl", "cf") and copy kernels are in convlayout.py.

def _choose_layout(channels, width):
    """Pick ``"cl"`` or ``"cf"`` for a grid with ``channels`` and ``width``.

    Measured on the U-Net's layers (see ``docs/FASTCONV.md``): the
    channels-first layout wins while image rows are longer than the channel
    runs, channels-last once there are many channels and short rows.
    """
    return "cl" if channels >= 2 * width else "cf"


class _DoubleBackpropError(NotImplementedError):
    pass


def _no_double_backprop():
    if chainer.config.enable_backprop:
        raise _DoubleBackpropError(
            "unetvocalsep.fast.fastconv does not support double backpropagation; "
            "switch it off with unetvocalsep.fast.fastconv.use_fast_path(False) "
            "or UNETVOCALSEP_FAST_PATH=0")


def _check_types(in_types, x_channel_axis, w_channel_axis, even):
    type_check = chainer.utils.type_check
    type_check._argname(in_types[:2], ("x", "W"))
    x, W = in_types[:2]
    type_check.expect(
        x.dtype.kind == "f",
        W.dtype == x.dtype,
        x.ndim == 4,
        W.ndim == 4,
        W.shape[2] == 4,
        W.shape[3] == 4,
        x.shape[x_channel_axis] == W.shape[w_channel_axis],
    )
    if even:
        type_check.expect(x.shape[2] % 2 == 0, x.shape[3] % 2 == 0)
    if len(in_types) == 3:
        b = in_types[2]
        type_check.expect(
            b.dtype == x.dtype, b.ndim == 1, b.shape[0] == W.shape[1 - w_channel_axis])


def _kept_weight(node, W):
    """The weight matrix ``node``'s forward kept, or ``_weight_matrix(W)`` again."""
    Wm = getattr(node, "Wm", None)
    return _weight_matrix(W) if Wm is None else Wm


class Conv4x4S2(function_node.FunctionNode):
    """Convolution2D(k=4, s=2, p=1) as one GEMM over a space-to-depth im2col.

    Inputs ``x (N, C, H, W)``, ``W (O, C, 4, 4)``, optional ``b (O,)``;
    output ``(N, O, H/2, W/2)``.  For large images the im2col and its GEMM run
    in batch chunks that stay in cache, and backward builds each chunk's
    im2col again instead of keeping the whole matrix (16x the input) from the
    forward pass; small images keep it.
    """

    def check_type_forward(self, in_types):
        _check_types(in_types, x_channel_axis=1, w_channel_axis=1, even=True)

    def forward_cpu(self, inputs):
        x, W = inputs[:2]
        n, c, h, w = x.shape
        o = W.shape[0]
        layout = self.layout = _choose_layout(c, w // 2)
        self.x_shape = x.shape
        backprop = chainer.config.enable_backprop
        Wm = _weight_matrix(W)
        # the weight matrix is reused by backward (the permutation is not free)
        self.Wm = Wm if backprop else None
        pixels = (h // 2) * (w // 2)
        chunks = list(_batch_chunks(n, pixels))
        self.col = None
        if len(chunks) == 1:
            col = _im2col(x, layout)
            y2 = _mm(col, Wm, layout)
            # kept for the weight gradient (only when a graph is being built)
            self.col = col if backprop else None
        else:
            y2 = _empty_matrix(n * pixels, o, x.dtype, layout)
            for samples, rows in chunks:
                _mm_into(_im2col(x[samples], layout), Wm, y2[rows], layout)
        if len(inputs) == 3:
            y2 += inputs[2]
        self.retain_inputs((0, 1) if self.col is None and backprop else (1,))
        return _from_matrix(y2, (n, o, h // 2, w // 2), layout),

    def backward(self, indexes, grad_outputs):
        _no_double_backprop()
        gy = grad_outputs[0].array
        retained = self.get_retained_inputs()
        W = retained[-1].array
        layout = self.layout
        gy2 = _to_matrix(gy, layout)
        ret = []
        if 0 in indexes:
            ret.append(chainer.Variable(
                _matmul_col2im(gy2, _kept_weight(self, W).T, self.x_shape, layout)))
        if 1 in indexes:
            if self.col is not None:
                gWm = np.matmul(self.col.T, gy2)
            else:
                x = retained[0].array
                n, _, h, w = x.shape
                gWm = None
                for samples, rows in _batch_chunks(n, (h // 2) * (w // 2)):
                    part = np.matmul(_im2col(x[samples], layout).T, gy2[rows])
                    gWm = part if gWm is None else np.add(gWm, part, out=gWm)
            ret.append(chainer.Variable(_weight_from_matrix(gWm, W.shape[0], W.shape[1])))
        if 2 in indexes:
            ret.append(chainer.Variable(_bias_grad(gy2)))
        self.col = self.Wm = None
        return ret


class Deconv4x4S2(function_node.FunctionNode):
    """Deconvolution2D(k=4, s=2, p=1): one GEMM, then a phase-wise col2im.

    Inputs ``x (N, C_in, H, W)``, ``W (C_in, C_out, 4, 4)``, optional
    ``b (C_out,)``; output ``(N, C_out, 2H, 2W)``.  With ``parts=k`` the
    first ``k`` inputs are the channel blocks of ``x``, i.e. the function is
    ``deconvolution_2d(concat((x_1, ..., x_k)), W, b)``: the blocks are
    copied straight into the GEMM's matrix, so the concatenated array of the
    U-Net's skip connections is never made (chainer's concat wrote it NCHW and
    the GEMM then copied it again into its own layout).
    """

    def __init__(self, parts=1):
        self.parts = parts

    def check_type_forward(self, in_types):
        k = self.parts
        if k == 1:
            _check_types(in_types, x_channel_axis=1, w_channel_axis=0, even=False)
            return
        type_check = chainer.utils.type_check
        xs, W = in_types[:k], in_types[k]
        for x in xs:
            type_check.expect(x.dtype == W.dtype, x.ndim == 4, x.shape[0] == xs[0].shape[0],
                              x.shape[2] == xs[0].shape[2], x.shape[3] == xs[0].shape[3])
        channels = xs[0].shape[1]
        for x in xs[1:]:
            channels = channels + x.shape[1]
        type_check.expect(
            W.dtype.kind == "f", W.ndim == 4, W.shape[2] == 4, W.shape[3] == 4,
            W.shape[0] == channels)
        if len(in_types) == k + 2:
            b = in_types[k + 1]
            type_check.expect(b.dtype == W.dtype, b.ndim == 1, b.shape[0] == W.shape[1])

    def _input_matrix(self, xs, layout):
        """The ``(N*H*W, sum C_i)`` matrix of the channel blocks ``xs``, in ``layout``."""
        if len(xs) == 1:
            return _to_matrix(xs[0], layout)
        n, _, h, w = xs[0].shape
        m = _empty_matrix(n * h * w, sum(x.shape[1] for x in xs), xs[0].dtype, layout)
        c0 = 0
        for x in xs:
            c = x.shape[1]
            if layout == "cf":
                m.T[c0:c0 + c].reshape(c, n, h, w)[...] = x.transpose(1, 0, 2, 3)
            else:
                m[:, c0:c0 + c].reshape(n, h, w, c)[...] = x.transpose(0, 2, 3, 1)
            c0 += c
        return m

    def forward_cpu(self, inputs):
        k = self.parts
        xs, W = inputs[:k], inputs[k]
        n, _, h, w = xs[0].shape
        cout = W.shape[1]
        self.layout = _choose_layout(cout, w)
        bias = inputs[k + 1] if len(inputs) == k + 2 else None
        self.retain_inputs((k,))
        Wm = _weight_matrix(W)
        xm = self._input_matrix(xs, self.layout)
        backprop = chainer.config.enable_backprop
        # kept for the weight gradient (a view of x when x already is in layout)
        self.Wm, self.xm = (Wm, xm) if backprop else (None, None)
        self.split = [x.shape[1] for x in xs]
        return _matmul_col2im(xm, Wm.T, (n, cout, 2 * h, 2 * w), self.layout, bias),

    def backward(self, indexes, grad_outputs):
        _no_double_backprop()
        k = self.parts
        gy = grad_outputs[0].array
        W = self.get_retained_inputs()[0].array
        layout = self.layout
        n, cout, h2, w2 = gy.shape
        want_x = any(i < k for i in indexes)
        ret = []
        if want_x or k in indexes:
            cin = W.shape[0]
            Wm = _kept_weight(self, W)
            x2 = self.xm if k in indexes else None
            pixels = (h2 // 2) * (w2 // 2)
            gx2 = _empty_matrix(n * pixels, cin, gy.dtype, layout) if want_x else None
            gWm = None
            # the im2col of gy is built per batch chunk for large images so that
            # it stays in cache (as in _matmul_col2im)
            for samples, rows in _batch_chunks(n, pixels):
                col = _im2col(gy[samples], layout)
                if gx2 is not None:
                    _mm_into(col, Wm, gx2[rows], layout)
                if x2 is not None:
                    part = np.matmul(col.T, x2[rows])
                    gWm = part if gWm is None else np.add(gWm, part, out=gWm)
                del col
            if gx2 is not None:
                gx = _from_matrix(gx2, (n, cin, h2 // 2, w2 // 2), layout)
                c0 = 0
                for i, c in enumerate(self.split):
                    if i in indexes:
                        ret.append(chainer.Variable(gx[:, c0:c0 + c]))
                    c0 += c
            if gWm is not None:
                ret.append(chainer.Variable(_weight_from_matrix(gWm, cin, cout)))
        if k + 1 in indexes:
            ret.append(chainer.Variable(gy.sum(axis=(0, 2, 3))))
        self.Wm = self.xm = None
        return ret


def _inputs(xs, W, b):
    """The FunctionNode inputs: the data arrays ``xs``, then ``W`` and ``b`` if given."""
    return tuple(xs) + ((W,) if b is None else (W, b))


def _is_numpy(x):
    data = x.array if isinstance(x, chainer.Variable) else x
    return isinstance(data, np.ndarray)


def conv4x4s2(x, W, b=None):
    """Convolution2D with kernel 4, stride 2, pad 1, fast on CPU.

    Same result as ``chainer.functions.convolution_2d(x, W, b, 2, 1)``; NumPy
    inputs go through :class:`Conv4x4S2`, CuPy inputs through chainer.

    Parameters
    ----------
    x : array or Variable, shape (N, C, H, W), float32 or float64
        ``H`` and ``W`` even.
    W : array or Variable (e.g. a link's ``W`` Parameter), shape (O, C, 4, 4)
    b : array or Variable, shape (O,), optional

    Returns
    -------
    chainer.Variable, shape (N, O, H/2, W/2)
    """
    if not _is_numpy(x):
        return F.convolution_2d(x, W, b, 2, 1)
    return Conv4x4S2().apply(_inputs((x,), W, b))[0]


def deconv4x4s2(x, W, b=None):
    """Deconvolution2D with kernel 4, stride 2, pad 1, fast on CPU.

    Same result as ``chainer.functions.deconvolution_2d(x, W, b, 2, 1)``;
    NumPy inputs go through :class:`Deconv4x4S2`, CuPy inputs through chainer.

    Parameters
    ----------
    x : array or Variable, shape (N, C_in, H, W), float32 or float64
    W : array or Variable (e.g. a link's ``W`` Parameter), shape (C_in, C_out, 4, 4)
    b : array or Variable, shape (C_out,), optional

    Returns
    -------
    chainer.Variable, shape (N, C_out, 2H, 2W)
    """
    if not _is_numpy(x):
        return F.deconvolution_2d(x, W, b, 2, 1)
    return Deconv4x4S2().apply(_inputs((x,), W, b))[0]


def deconv4x4s2_concat(xs, W, b=None):
    """``deconv4x4s2(F.concat(xs, axis=1), W, b)`` without the concatenated array.

    Parameters
    ----------
    xs : sequence of arrays or Variables, shapes (N, C_i, H, W)
        NumPy inputs take :class:`Deconv4x4S2` with ``parts=len(xs)``; others
        go through ``F.concat`` and chainer's deconvolution.
    W : array or Variable, shape (sum C_i, C_out, 4, 4)
    b : array or Variable, shape (C_out,), optional

    Returns
    -------
    chainer.Variable, shape (N, C_out, 2H, 2W)
    """
    xs = tuple(xs)
    if not all(_is_numpy(x) for x in xs):
        return F.deconvolution_2d(F.concat(xs, axis=1), W, b, 2, 1)
    return Deconv4x4S2(parts=len(xs)).apply(_inputs(xs, W, b))[0]


def _activation_grad(y, gy, slope):
    """``gy`` where ``y > 0``, ``slope * gy`` elsewhere, as a new array (ReLU: slope 0).

    A multiplication by the 0/1 mask: ``numpy.where`` on data of mixed signs
    measured 15x slower (branch mispredictions). Shared by :class:`LeakyReLU`
    and :class:`unetvocalsep.fast.fastnorm.BatchNormAct`.
    """
    scale = (y > 0).astype(gy.dtype)
    if slope:
        scale *= gy.dtype.type(1 - slope)
        scale += gy.dtype.type(slope)
    scale *= gy
    return scale


class LeakyReLU(function_node.FunctionNode):
    """``F.leaky_relu`` without boolean-mask indexing (CPU).

    chainer's CPU kernel copies the input and scales ``y[x <= 0]`` through a
    boolean mask, which costs about as much as a BatchNormalization; for
    ``0 <= slope <= 1`` the same result is ``maximum(x, slope * x)``.
    Input and output ``(...)``, any float dtype.
    """

    def __init__(self, slope):
        self.slope = slope

    def forward_cpu(self, inputs):
        x, = inputs
        y = np.multiply(x, x.dtype.type(self.slope))
        np.maximum(x, y, out=y)
        self.retain_outputs((0,))
        return y,

    def backward(self, indexes, grad_outputs):
        _no_double_backprop()
        gy = grad_outputs[0].array
        y = self.get_retained_outputs()[0].array
        return chainer.Variable(_activation_grad(y, gy, self.slope)),


def leaky_relu(x, slope=0.2):
    """Leaky ReLU equal to ``chainer.functions.leaky_relu`` (slope in [0, 1]).

    Parameters
    ----------
    x : numpy.ndarray or chainer.Variable, any shape
    slope : float

    Returns
    -------
    chainer.Variable, same shape and dtype
    """
    if not 0 <= slope <= 1:
        raise ValueError("slope must be in [0, 1]")
    return LeakyReLU(slope).apply((x,))[0]


def _half_mask(x):
    """A dropout mask of 0s and 2s, each with probability 1/2, laid out like ``x``.

    One random bit per element, from the global ``numpy.random`` state that
    chainer's own dropout uses (so ``numpy.random.seed`` still fixes it).
    """
    order = np.argsort(x.strides, kind="stable")[::-1]
    base = np.empty([x.shape[i] for i in order], x.dtype)
    bits = np.unpackbits(np.frombuffer(np.random.bytes((x.size + 7) // 8), np.uint8),
                         count=x.size)
    np.multiply(bits, x.dtype.type(2), out=base.reshape(-1), casting="unsafe")
    return base.transpose(np.argsort(order))


def dropout(x, ratio=0.5):
    """``chainer.functions.dropout(x, ratio)``, with a cheaper mask at ratio 0.5 (CPU).

    chainer draws one float64 uniform per element, which costs more than the
    dropout itself. At the article's ratio 0.5 each element needs one random
    bit: the mask is unpacked from random bytes, in ``x``'s memory layout,
    and handed to chainer's function, so forward and backward are chainer's.
    Other ratios, test mode and CuPy arrays go to chainer unchanged.

    Parameters
    ----------
    x : numpy.ndarray or chainer.Variable, any shape
    ratio : float

    Returns
    -------
    chainer.Variable, same shape and dtype

    Examples
    --------
    >>> import numpy as np, chainer
    >>> with chainer.using_config("train", True):
    ...     y = dropout(np.ones((2, 3, 4, 4), np.float32))
    >>> sorted(np.unique(y.array).tolist())
    [0.0, 2.0]
    """
    arr = x.array if isinstance(x, chainer.Variable) else x
    if ratio != 0.5 or not chainer.config.train or not isinstance(arr, np.ndarray) \
            or arr.dtype.kind != "f":
        return chainer.functions.dropout(x, ratio)
    return chainer.functions.dropout(x, ratio, mask=_half_mask(arr))
