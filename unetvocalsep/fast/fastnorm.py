"""BatchNormalization fused with the following ReLU / leaky ReLU, for CPU training.

In a training step chainer runs ``BatchNormalization`` and the activation as
two functions over NCHW arrays: the statistics are reductions over three of
four axes of an array that :mod:`unetvocalsep.fast.fastconv` stores channels-first
or channels-last, and each function keeps its own copy of the activations.
:class:`BatchNormAct` does the same arithmetic as
``relu(batch_normalization(x))`` / ``leaky_relu(batch_normalization(x))``
(batch statistics, and the link's running averages updated exactly as
chainer updates them) on the 2-D matrix behind the array, in place where it
can, and keeps one normalised copy for the backward pass.  It is used by
:meth:`unetvocalsep.network.UNet.forward` in training mode for NumPy inputs
when the fast CPU path is on (:mod:`unetvocalsep.fast.fastpath`); test mode, CuPy
arrays and the switch turned off take chainer's functions.
docs/FASTCONV.md gives the measurements.

Examples
--------
>>> import numpy as np, chainer, chainer.links as L
>>> bn = L.BatchNormalization(4)
>>> x = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
>>> with chainer.using_config("train", True):
...     y = batch_norm_act(bn, x, "relu")
>>> y.shape, bool((y.array >= 0).all())
((2, 4, 8, 8), True)
"""
from .. import _compat  # noqa: F401  (must precede chainer)

import numpy as np

import chainer
from chainer import function_node

from . import fastconv
from .convlayout import _from_matrix
from .fastconv import _activation_grad, _no_double_backprop, is_fast_input

__all__ = ["BatchNormAct", "batch_norm_act", "applies"]

#: Activations :class:`BatchNormAct` can fuse, with their negative-side slopes.
ACTIVATIONS = {"relu": 0.0, "leaky_relu": 0.2}


def _as_matrix(x):
    """The 2-D matrix behind an NCHW array, and its layout.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, C, H, W)

    Returns
    -------
    m : numpy.ndarray
        ``(C, N*H*W)`` for layout ``"cf"`` or ``(N*H*W, C)`` for ``"cl"``; a
        view when ``x`` is stored that way, else a channels-first copy.
    layout : {"cf", "cl"}
    """
    n, c, h, w = x.shape
    t = x.transpose(1, 0, 2, 3)
    if t.flags.c_contiguous:
        return t.reshape(c, n * h * w), "cf"
    t = x.transpose(0, 2, 3, 1)
    if t.flags.c_contiguous:
        return t.reshape(n * h * w, c), "cl"
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * h * w), "cf"


def _in_layout(x, layout):
    """``x`` (N, C, H, W) as the matrix of ``layout`` (a view if stored that way)."""
    n, c, h, w = x.shape
    if layout == "cf":
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * h * w)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def _nchw(m, shape, layout):
    """Inverse of :func:`_as_matrix`: the NCHW view of a matrix in ``layout``."""
    return _from_matrix(m.T if layout == "cf" else m, shape, layout)


def _expand(axis):
    """Index that broadcasts a per-channel vector over a matrix reduced along ``axis``."""
    return (slice(None), None) if axis == 1 else (None, slice(None))


def _rowdot(a, b, axis):
    """Per-channel sums of ``a * b`` over ``axis`` without a product array."""
    return np.einsum("ij,ij->i" if axis == 1 else "ij,ij->j", a, b)


class BatchNormAct(function_node.FunctionNode):
    """``activation(batch_normalization(x, gamma, beta))`` with batch statistics.

    Inputs ``x (N, C, H, W)``, ``gamma (C,)``, ``beta (C,)``, float32 or
    float64; output the same shape as ``x``, in the same memory layout.

    Parameters
    ----------
    activation : {"relu", "leaky_relu"}
        Leaky ReLU has chainer's default slope 0.2.
    eps : float
    running_mean, running_var : numpy.ndarray, shape (C,), or None
        Updated in place as chainer does: ``r = decay r + (1 - decay) s``,
        with the unbiased variance ``var * m / (m - 1)``.
    decay : float
    """

    def __init__(self, activation, eps=2e-5, running_mean=None, running_var=None, decay=0.9):
        if activation not in ACTIVATIONS:
            raise ValueError("activation must be one of %s" % sorted(ACTIVATIONS))
        self.slope = ACTIVATIONS[activation]
        self.eps = eps
        self.running_mean = running_mean
        self.running_var = running_var
        self.decay = decay

    def check_type_forward(self, in_types):
        type_check = chainer.utils.type_check
        type_check._argname(in_types, ("x", "gamma", "beta"))
        x, gamma, beta = in_types
        type_check.expect(
            x.dtype.kind == "f", x.ndim == 4,
            gamma.dtype == x.dtype, beta.dtype == x.dtype,
            gamma.ndim == 1, beta.ndim == 1,
            gamma.shape[0] == x.shape[1], beta.shape[0] == x.shape[1])

    def _activate(self, z):
        if self.slope == 0:
            np.maximum(z, 0, out=z)
        else:
            np.maximum(z, z * z.dtype.type(self.slope), out=z)

    def forward_cpu(self, inputs):
        x, gamma, beta = inputs
        m, layout = _as_matrix(x)
        axis = 1 if layout == "cf" else 0
        e = _expand(axis)
        count = m.shape[axis]
        mean = m.mean(axis=axis, dtype=np.float64).astype(x.dtype)
        xhat = m - mean[e]
        var = _rowdot(xhat, xhat, axis) / x.dtype.type(count)
        inv_std = np.reciprocal(np.sqrt(var + x.dtype.type(self.eps)))
        xhat *= inv_std[e]
        y = xhat * gamma[e]
        y += beta[e]
        self._activate(y)
        if self.running_mean is not None and not chainer.config.in_recomputing:
            adjust = count / max(count - 1.0, 1.0)
            self.running_mean *= self.decay
            self.running_mean += (1 - self.decay) * mean
            self.running_var *= self.decay
            self.running_var += (1 - self.decay) * adjust * var
        self.layout, self.axis, self.count = layout, axis, count
        self.xhat = xhat if chainer.config.enable_backprop else None
        self.inv_std = inv_std
        self.retain_inputs((1,))
        self.retain_outputs((0,))
        return _nchw(y, x.shape, layout),

    def backward(self, indexes, grad_outputs):
        _no_double_backprop()
        gamma = self.get_retained_inputs()[0].array
        y = self.get_retained_outputs()[0].array
        layout, axis, xhat = self.layout, self.axis, self.xhat
        e = _expand(axis)
        gy = _in_layout(grad_outputs[0].array, layout)
        ym = _in_layout(y, layout)
        gz = _activation_grad(ym, gy, self.slope)
        gbeta = gz.sum(axis=axis, dtype=np.float64).astype(gy.dtype)
        ggamma = _rowdot(gz, xhat, axis).astype(gy.dtype, copy=False)
        inv_m = gy.dtype.type(1.0 / self.count)
        gz -= xhat * (ggamma * inv_m)[e]
        gz -= (gbeta * inv_m)[e]
        gz *= (gamma * self.inv_std)[e]
        self.xhat = None
        gx = _nchw(gz, y.shape, layout)
        return chainer.Variable(gx), chainer.Variable(ggamma), chainer.Variable(gbeta)


def applies(x):
    """Whether :func:`batch_norm_act` would run the fused kernel for ``x``.

    Parameters
    ----------
    x : numpy.ndarray, cupy.ndarray or chainer.Variable

    Returns
    -------
    bool
        True in training mode, with the fast CPU path on, for a NumPy ``x``.
    """
    return bool(chainer.config.train) and is_fast_input(x)


def batch_norm_act(link, x, activation):
    """``activation(link(x))`` for a ``chainer.links.BatchNormalization`` ``link``.

    In training mode, for NumPy input with the fast path on, this is one
    :class:`BatchNormAct` call that also updates ``link.avg_mean`` and
    ``link.avg_var``; otherwise it is the link followed by
    ``F.relu`` / ``F.leaky_relu``. Same values and gradients either way.

    Parameters
    ----------
    link : chainer.links.BatchNormalization
        Over axis 1, initialised or not.
    x : numpy.ndarray or chainer.Variable, shape (N, C, H, W)
    activation : {"relu", "leaky_relu"}

    Returns
    -------
    chainer.Variable, shape (N, C, H, W)
    """
    if not applies(x):
        h = link(x)
        if activation == "relu":
            return chainer.functions.relu(h)
        return fastconv.leaky_relu(h) if is_fast_input(h) else chainer.functions.leaky_relu(h)
    if link.avg_mean is None:
        link._initialize_params(link.gamma.shape if link.gamma.array is not None
                                else (x.shape[1],))
    fn = BatchNormAct(activation, link.eps, link.avg_mean, link.avg_var, link.decay)
    return fn.apply((x, link.gamma, link.beta))[0]
