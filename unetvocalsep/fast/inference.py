"""A NumPy inference plan for :class:`~unetvocalsep.network.UNet` on the CPU.

In test mode the network is a fixed chain of affine maps and pointwise
functions, so the plan computes it from the same parameters with less data
movement than chainer's layers: BatchNormalization folded into the
(de)convolutions, zero-padded planes whose 2-D shifts are flat offsets (so
each tap is a GEMM on a view, with no im2col/col2im copy), and skip
connections written in place.  It is built once per model, when the model
is loaded, and used when :mod:`unetvocalsep.backends` chooses it; chainer's
forward stays the reference, the GPU path and the training path.
docs/INFERENCE.md explains every step and gives the measurements;
tests/fast/test_inference.py checks the plan against chainer. Over 500 lines on
purpose: a measured kernel whose buffers, levels and GEMM order were timed
as one unit (docs/INFERENCE.md).

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.model_io import load_params
>>> params, _ = load_params()
>>> plan = InferencePlan(params)
>>> plan(np.zeros((1, 1, 512, 128), np.float32)).shape
(1, 1, 512, 128)
"""
import threading

import numpy as np

from .. import constants

__all__ = ["InferencePlan", "unet_params", "folded_layers", "check_input"]

#: Slope of the encoder's leaky ReLU (chainer's default).
LEAKY_SLOPE = 0.2

#: Deconvolutions with at most this many output channels use the transposed
#: order (one GEMM over all 16 taps, then shifted adds); measured faster for
#: the last three layers (32, 16 and 1 output channels).
_TRANSPOSED_MAX_COUT = 32

#: Convolutions with at most this many input channels (conv2, conv3) compute
#: all four taps in one GEMM and shift the outputs; deeper ones shift the
#: input views (measured: 11.5 vs 15.5 ms for conv2 at 2048 frames, the
#: reverse from conv4 on). conv1 (one channel) uses a 16-row im2col.
_CONV_TRANSPOSED_MAX_CIN = 32

# Phase r of a deconvolution output (row 2 m + r) reads input row m + d
# through kernel tap k: r = 0 -> (d, k) in {(0, 1), (-1, 3)},
# r = 1 -> {(0, 2), (1, 0)}.
_DECONV_TAPS = {0: ((0, 1), (-1, 3)), 1: ((0, 2), (1, 0))}


def _fold_bn(params, name, eps):
    """Scale and shift of BatchNormalization ``name`` in test mode.

    Parameters
    ----------
    params : mapping
        ``'<name>/gamma'``, ``'<name>/beta'``, ``'<name>/avg_mean'``,
        ``'<name>/avg_var'`` -> arrays of shape (C,).
    name : str
    eps : float

    Returns
    -------
    (numpy.ndarray, numpy.ndarray), shapes (C,), (C,), float64
        ``y = scale * x + shift``.
    """
    def get(key):
        return np.asarray(params["%s/%s" % (name, key)], dtype=np.float64)

    scale = get("gamma") / np.sqrt(get("avg_var") + eps)
    return scale, get("beta") - get("avg_mean") * scale


def folded_layers(params, eps=None):
    """The (de)convolution weights and biases with test-mode BatchNorm folded in.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray
        The npz arrays (``'conv1/W'``, ``'norm1/avg_mean'``, ...), any float dtype.
    eps : dict or None
        BatchNormalization name -> eps (chainer's 2e-5 when missing).

    Returns
    -------
    list of (str, numpy.ndarray, numpy.ndarray)
        ``(name, W, b)`` for ``conv1..6`` (W of shape (O, C, 4, 4)) then
        ``deconv1..6`` (W of shape (C_in, C_out, 4, 4)), float32; ``b`` of
        shape (O,) / (C_out,).
    """
    eps = eps or {}
    layers = []
    for i in range(1, 7):
        scale, shift = _fold_bn(params, "norm%d" % i, eps.get("norm%d" % i, constants.BN_EPS))
        W = np.asarray(params["conv%d/W" % i], np.float64) * scale[:, None, None, None]
        b = shift + np.asarray(params["conv%d/b" % i], np.float64) * scale
        layers.append(("conv%d" % i, W.astype(np.float32), b.astype(np.float32)))
    for i in range(1, 7):
        W = np.asarray(params["deconv%d/W" % i], np.float64)
        b = np.asarray(params["deconv%d/b" % i], np.float64)
        if i < 6:
            name = "denorm%d" % i
            scale, shift = _fold_bn(params, name, eps.get(name, constants.BN_EPS))
            W = W * scale[None, :, None, None]
            b = shift + b * scale
        layers.append(("deconv%d" % i, W.astype(np.float32), b.astype(np.float32)))
    return layers


def check_input(x):
    """Check a network input's shape: ``(batch, 1, 512, T)`` with ``T`` a positive multiple of 64.

    Parameters
    ----------
    x : numpy.ndarray

    Raises
    ------
    ValueError
    """
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != constants.N_BINS \
            or x.shape[3] % constants.TIME_MULTIPLE or x.shape[3] == 0:
        raise ValueError("expected an input of shape (batch, 1, 512, T) with T a positive "
                         "multiple of 64, got %s" % (x.shape,))


def unet_params(unet):
    """The arrays of a UNet under the names ``serializers.save_npz`` uses.

    Parameters
    ----------
    unet : unetvocalsep.network.UNet
        On the CPU.

    Returns
    -------
    params : dict
        ``'conv1/W'``, ``'conv1/b'``, ``'norm1/gamma'``, ...,
        ``'norm1/avg_mean'``, ``'norm1/avg_var'`` -> numpy arrays (not copies).
    eps : dict
        BatchNormalization name -> its ``eps``.
    """
    params, eps = {}, {}
    for name, link in unet.namedlinks(skipself=True):
        name = name.lstrip("/")
        for pname, p in link.namedparams(include_uninit=False):
            params[name + pname] = p.array
        if hasattr(link, "avg_mean"):
            params[name + "/avg_mean"] = link.avg_mean
            params[name + "/avg_var"] = link.avg_var
            eps[name] = link.eps
    return params, eps


class _Level:
    """Buffers of one U-Net level for an input of ``frames`` frames.

    Attributes
    ----------
    h, w : int
        Image size at this level.
    r : int
        Row stride of the padded planes, ``w + 2``.
    buf : numpy.ndarray, shape (channels, plane), float32
        The zero-bordered planes; ``buf[c, :(h + 2) * r]`` is the padded
        image, the rest is slack read only into junk columns.
    """

    def __init__(self, channels, h, w):
        self.h, self.w, self.r = h, w, w + 2
        self.plane = (h + 2) * self.r + self.r + 8
        self.buf = np.zeros((channels, self.plane), np.float32)

    def image(self, c0=0, c1=None):
        """View ``(C, h + 2, w + 2)`` of channels ``c0:c1`` of the padded image."""
        c1 = self.buf.shape[0] if c1 is None else c1
        return self.buf[c0:c1, :(self.h + 2) * self.r].reshape(c1 - c0, self.h + 2, self.r)

    def interior(self, c0, c1):
        """Flat view of rows ``1..h`` (junk columns included), shape ``(C, h * r)``."""
        return self.buf[c0:c1, self.r + 1:self.r + 1 + self.h * self.r]

    def clear_border_columns(self, c0, c1):
        """Zero the left and right border columns of channels ``c0:c1``."""
        img = self.image(c0, c1)
        img[:, :, 0] = 0
        img[:, :, self.w + 1] = 0


class InferencePlan:
    """The folded, buffer-reusing test-mode forward pass of a :class:`UNet`.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray
        The UNet's arrays under the names ``serializers.save_npz`` writes
        (``'conv1/W'``, ``'norm1/avg_mean'``, ...; see
        :func:`unetvocalsep.constants.parameter_shapes`), any float dtype.
        They are copied (folded) at construction.
    eps : dict or None
        BatchNormalization name -> eps; chainer's default 2e-5 otherwise.

    Notes
    -----
    Call it with ``x`` of shape ``(batch, 1, 512, T)`` (``T`` a multiple of
    64, float32); it returns the mask, a float32 array of the same shape,
    equal to ``unet(x)`` under ``chainer.using_config('train', False)`` up to
    float32 rounding (the tests allow 1e-5).
    """

    def __init__(self, params, eps=None):
        layers = folded_layers(params, eps)
        self.convs = [(self._conv_weights(W), b[:, None]) for _, W, b in layers[:6]]
        self.deconvs = [(self._deconv_weights(W), b[:, None]) for _, W, b in layers[6:]]
        self.channels = [1] + [W.shape[2] for W, _ in self.convs]
        self._levels = None
        self._frames = None
        self._arenas = {}
        # the buffers are shared state: one forward pass at a time (threads
        # separating several files take turns here; BLAS already uses every core)
        self._lock = threading.Lock()

    @classmethod
    def from_unet(cls, unet):
        """Build the plan of a CPU :class:`~unetvocalsep.network.UNet`.

        Parameters
        ----------
        unet : unetvocalsep.network.UNet

        Returns
        -------
        InferencePlan
        """
        params, eps = unet_params(unet)
        return cls(params, eps)

    # ---- weight layouts -------------------------------------------------
    @staticmethod
    def _conv_weights(W):
        """``(O, C, 4, 4)`` -> ``(2, 2, O, 4C)``: tap block ``(a, b)``, columns ``(p, q, c)``.

        Kernel tap ``(2a + p, 2b + q)`` reads space-to-depth phase ``(p, q)``
        shifted by ``(a, b)``.
        """
        o, c = W.shape[:2]
        w = W.reshape(o, c, 2, 2, 2, 2)  # o, c, a, p, b, q
        return np.ascontiguousarray(
            w.transpose(2, 4, 0, 3, 5, 1).reshape(2, 2, o, 4 * c), dtype=np.float32)

    @staticmethod
    def _deconv_weights(W):
        """Deconvolution ``(C_in, C_out, 4, 4)`` -> per input shift, stacked phase weights.

        Returns
        -------
        dict
            For ``C_out <= _TRANSPOSED_MAX_COUT``: ``"all"``, shape
            ``(16 * C_out, C_in)`` with rows ``(ry, rx, dy-slot, dx-slot, o)``
            for the transposed order, and its row keys ``"all_keys"``;
            otherwise ``"shifts"``: list of ``((dy, dx), phases, Wt)`` with
            ``Wt`` of shape ``(len(phases) * C_out, C_in)`` (rows ``(phase,
            o)``). Both with ``"cin"`` and ``"cout"``.
        """
        cin, cout = W.shape[:2]
        if cout <= _TRANSPOSED_MAX_COUT:
            rows = []
            for ry in (0, 1):
                for rx in (0, 1):
                    for dy, ky in _DECONV_TAPS[ry]:
                        for dx, kx in _DECONV_TAPS[rx]:
                            rows.append(((ry, rx, dy, dx), W[:, :, ky, kx].T))
            Wall = np.ascontiguousarray(np.concatenate([w for _, w in rows], axis=0),
                                        dtype=np.float32)
            return {"all": Wall, "all_keys": [k for k, _ in rows], "cout": cout, "cin": cin}
        by_shift = {}
        for ry in (0, 1):
            for dy, ky in _DECONV_TAPS[ry]:
                for rx in (0, 1):
                    for dx, kx in _DECONV_TAPS[rx]:
                        by_shift.setdefault((dy, dx), []).append(
                            (2 * ry + rx, W[:, :, ky, kx].T))
        shifts = []
        for (dy, dx), items in sorted(by_shift.items()):
            phases = [p for p, _ in items]
            Wt = np.concatenate([w for _, w in items], axis=0)
            shifts.append(((dy, dx), phases, np.ascontiguousarray(Wt, dtype=np.float32)))
        return {"shifts": shifts, "cout": cout, "cin": cin}

    # ---- buffers ----------------------------------------------------------
    def _setup(self, frames):
        if self._frames == frames:
            return
        ch = self.channels  # 1, 16, 32, 64, 128, 256, 512
        levels = []
        for lv in range(7):
            h, w = 512 >> lv, frames >> lv
            if lv == 0:
                n = 1
            elif lv == 6:
                n = ch[6]
            else:
                n = 2 * ch[lv]  # [decoder output | encoder skip]
            levels.append(_Level(n, h, w))
        self._levels = levels
        self._frames = frames

    def _arena(self, slot, shape):
        """Uninitialised float32 scratch of ``shape``, a view of arena ``slot``.

        Layers run one after another, so each kind of scratch shares one
        growing buffer instead of one per layer (at 2048 frames: about 100 MB
        in three arenas instead of 360 MB). Slot 0: a layer's output-sized
        temporary or phase planes; slot 1: GEMM products (im2col, all-tap and
        shifted products); slot 2: space-to-depth copies. Arrays from
        different slots may be used together, from one slot never.
        """
        n = 1
        for d in shape:
            n *= int(d)
        a = self._arenas.get(slot)
        if a is None or a.size < n:
            self._arenas[slot] = None   # free the old one first
            a = self._arenas[slot] = np.empty(n, np.float32)
        return a[:n].reshape(shape)

    def _s2d_buffer(self, lv, c):
        """Scratch ``(4C, plane)`` for the space-to-depth of level ``lv``'s input.

        Only the image part is written by the caller; the last column of each
        row and the slack (read only into junk outputs) are zeroed here so that
        no stale values from other layers take part in any arithmetic.
        """
        out = self._levels[lv + 1]
        plane = (out.h + 1) * out.r + out.r + 8
        s = self._arena(2, (4 * c, plane))
        s[:, (out.h + 1) * out.r:] = 0
        s[:, :(out.h + 1) * out.r].reshape(4 * c, out.h + 1, out.r)[:, :, out.w + 1:] = 0
        return s

    # ---- layers -------------------------------------------------------------
    def _conv(self, i, src, c0, c1, dst, d0):
        """Encoder layer ``i`` (0-based): conv + folded BN + leaky ReLU.

        Reads channels ``c0:c1`` of level ``src`` and writes ``C_out``
        channels from ``d0`` of level ``dst`` (``dst`` = ``src + 1``).
        """
        Wb, bias = self.convs[i]
        o = Wb.shape[2]
        c = c1 - c0
        inp = self._levels[src].image(c0, c1)
        out = self._levels[dst]
        ho, wo, r = out.h, out.w, out.r
        s = self._s2d_buffer(src, c)
        s_img = s[:, :(ho + 1) * r].reshape(2, 2, c, ho + 1, r)
        for p in (0, 1):
            for q in (0, 1):
                s_img[p, q, :, :, :wo + 1] = inp[:, p::2, q::2]
        length = ho * r
        y = out.interior(d0, d0 + o)
        tmp = self._arena(0, (o, length))
        offsets = ((0, 0, 0), (0, 1, 1), (1, 0, r), (1, 1, r + 1))  # (a, b, flat shift)
        if c == 1:
            # one input channel: the 16-row im2col is cheap, one GEMM with K = 16
            col = self._arena(1, (16, length))
            for k, (_, _, off) in enumerate(offsets):
                col[4 * k:4 * k + 4] = s[:, off:off + length]
            np.matmul(Wb.transpose(2, 0, 1, 3).reshape(o, 16), col, out=y)
        elif c <= _CONV_TRANSPOSED_MAX_CIN:
            # few channels: one GEMM over the unshifted input for all four taps
            # (M = 4 O), then the shifts on the outputs
            g = self._arena(1, (4 * o, s.shape[1]))
            np.matmul(Wb.reshape(4 * o, 4 * c), s, out=g)
            g = g.reshape(2, 2, o, -1)
            np.copyto(y, g[0, 0, :, :length])
            for a, b, off in offsets[1:]:
                y += g[a, b, :, off:off + length]
        else:
            for a, b, off in offsets:
                view = s[:, off:off + length]
                if off == 0:
                    np.matmul(Wb[a, b], view, out=y)
                else:
                    np.matmul(Wb[a, b], view, out=tmp)
                    y += tmp
        y += bias
        np.multiply(y, np.float32(LEAKY_SLOPE), out=tmp)
        np.maximum(y, tmp, out=y)
        out.clear_border_columns(d0, d0 + o)

    def _deconv_phases(self, i, src):
        """Decoder layer ``i`` (0-based) up to the bias: the four phase planes.

        Returns
        -------
        numpy.ndarray, shape (4, C_out, h * r)
            Phase ``2 ry + rx`` at flat position ``m * r + n`` holds output
            pixel ``(2 m + ry, 2 n + rx)`` (columns ``n >= w`` are junk).
        """
        weights, _ = self.deconvs[i]
        lvl = self._levels[src]
        h, r = lvl.h, lvl.r
        cin, cout = weights["cin"], weights["cout"]
        buf = lvl.buf[:cin]
        length = h * r
        base = r + 1
        phases = self._arena(0, (4, cout, length))
        phases[...] = 0
        if "all" in weights:
            # transposed order: one GEMM over all taps, then shifted adds
            g = self._arena(1, (16 * cout, lvl.plane))
            np.matmul(weights["all"], buf, out=g)
            g = g.reshape(16, cout, -1)
            for t, (ry, rx, dy, dx) in enumerate(weights["all_keys"]):
                off = base + dy * r + dx
                phases[2 * ry + rx] += g[t, :, off:off + length]
            return phases
        flat_phases = phases.reshape(4 * cout, length)
        tmp = self._arena(1, (4 * cout, length))
        for (dy, dx), plist, Wt in weights["shifts"]:
            off = base + dy * r + dx
            view = buf[:, off:off + length]
            if len(plist) == 4:
                np.matmul(Wt, view, out=tmp)
                flat_phases += tmp
            else:
                t = tmp[:len(plist) * cout]
                np.matmul(Wt, view, out=t)
                for k, p in enumerate(plist):
                    phases[p] += t[k * cout:(k + 1) * cout]
        return phases

    def _deconv(self, i, src, dst):
        """Decoder layer ``i`` (0-based, ``i < 5``): deconv + folded BN + ReLU into ``dst``."""
        _, bias = self.deconvs[i]
        phases = self._deconv_phases(i, src)
        lvl = self._levels[src]
        out = self._levels[dst]
        cout = phases.shape[1]
        phases += bias
        np.maximum(phases, 0, out=phases)
        ph = phases.reshape(2, 2, cout, lvl.h, lvl.r)[..., :lvl.w]
        img = out.image(0, cout)[:, 1:out.h + 1, 1:out.w + 1]
        img = img.reshape(cout, lvl.h, 2, lvl.w, 2)
        for ry in (0, 1):
            for rx in (0, 1):
                img[:, :, ry, :, rx] = ph[ry, rx]

    def _final(self, src, out):
        """Last layer: deconv6 + bias + sigmoid into ``out`` ``(512, T)``."""
        _, bias = self.deconvs[5]
        phases = self._deconv_phases(5, src)
        lvl = self._levels[src]
        phases += bias
        # sigmoid, in place: 1 / (1 + exp(-x))
        np.negative(phases, out=phases)
        np.exp(phases, out=phases)
        phases += 1
        np.reciprocal(phases, out=phases)
        ph = phases.reshape(2, 2, lvl.h, lvl.r)[..., :lvl.w]
        o = out.reshape(lvl.h, 2, lvl.w, 2)
        for ry in (0, 1):
            for rx in (0, 1):
                o[:, ry, :, rx] = ph[ry, rx]

    def __call__(self, x):
        """Compute the mask.

        Parameters
        ----------
        x : numpy.ndarray, shape (batch, 1, 512, T), float32
            Normalised magnitude; ``T`` a multiple of 64.

        Returns
        -------
        numpy.ndarray, shape (batch, 1, 512, T), float32
            The mask, in (0, 1).
        """
        x = np.asarray(x)
        check_input(x)
        with self._lock:
            return self._forward(x)

    def _forward(self, x):
        n, _, _, frames = x.shape
        self._setup(frames)
        L = self._levels
        ch = self.channels
        result = np.empty((n, 1, 512, frames), np.float32)
        with np.errstate(over="ignore"):
            for k in range(n):
                L[0].image()[0, 1:513, 1:frames + 1] = x[k, 0]
                # encoder: level lv's skip lives in channels ch[lv]: of its buffer
                self._conv(0, 0, 0, 1, 1, ch[1])
                for i in range(1, 6):
                    lv = i
                    dst_off = ch[lv + 1] if lv + 1 < 6 else 0
                    self._conv(i, lv, ch[lv], 2 * ch[lv], lv + 1, dst_off)
                # decoder
                self._deconv(0, 6, 5)
                for i in range(1, 5):
                    self._deconv(i, 6 - i, 5 - i)
                self._final(1, result[k, 0])
        return result
