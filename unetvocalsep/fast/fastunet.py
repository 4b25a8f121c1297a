"""The U-Net for training on the CPU: the article's links on faster kernels.

:class:`FastUNet` is :class:`~unetvocalsep.network.UNet` with the same links,
so the same parameters and npz keys, whose layers run through
:mod:`unetvocalsep.fast.fastconv` (the 4x4 stride-2 convolutions as GEMMs) and
:mod:`unetvocalsep.fast.fastnorm` (BatchNormalization fused with its activation)
when the input is a NumPy array and :func:`~unetvocalsep.fast.fastconv.use_fast_path`
is on; otherwise every layer calls the link itself, as the article's class
does. Training picks it once, when it starts on the CPU
(:func:`for_device`); the article's class stays the article's twelve lines.

Same values as :class:`~unetvocalsep.network.UNet` (tests/fast/test_fastconv.py and
tests/fast/test_fastnorm.py compare masks, losses and all 46 gradients), 1.6x
faster steps at batch 64 with the allocator setting (docs/FASTCONV.md).

Examples
--------
>>> from unetvocalsep.network import UNet, count_parameters
>>> fast = from_unet(UNet())
>>> isinstance(fast, UNet), count_parameters(fast)
(True, 6288545)
"""
from .. import _compat  # noqa: F401  (must precede chainer)

import chainer.functions as F

from . import fastconv, fastnorm
from ..network import UNet

__all__ = ["FastUNet", "from_unet", "for_device"]


class FastUNet(UNet):
    """:class:`~unetvocalsep.network.UNet` whose layers take the fast CPU kernels."""

    def _conv(self, name, x):
        """Apply convolution link ``name`` (hook point for faster CPU kernels).

        With :func:`unetvocalsep.fast.fastconv.use_fast_path` on (the default) and
        a NumPy input, the link's own ``W`` and ``b`` parameters go through
        :func:`~unetvocalsep.fast.fastconv.conv4x4s2` /
        :func:`~unetvocalsep.fast.fastconv.deconv4x4s2` (same result, same
        gradients, faster on CPU); otherwise the link itself is called.
        """
        link = getattr(self, name)
        if fastconv.is_fast_input(x):
            fn = fastconv.function_for(link)
            if fn is not None:
                return fn(x, link.W, link.b)
        return link(x)

    def _encode(self, i, x):
        """Encoder layer ``i``: ``leaky_relu(norm<i>(conv<i>(x)))``.

        In training mode on the fast CPU path the BatchNormalization and the
        leaky ReLU are one fused function
        (:func:`unetvocalsep.fast.fastnorm.batch_norm_act`); same values.
        """
        return fastnorm.batch_norm_act(getattr(self, "norm%d" % i),
                                       self._conv("conv%d" % i, x), "leaky_relu")

    def _deconv_skip(self, name, dh, skip):
        """``deconv(F.concat((dh, skip)))``; on the fast path without the concatenated copy."""
        link = getattr(self, name)
        if fastconv.is_fast_input(dh) and fastconv.function_for(link) is fastconv.deconv4x4s2:
            return fastconv.deconv4x4s2_concat((dh, skip), link.W, link.b)
        return self._conv(name, F.concat((dh, skip)))

    def _decode(self, i, x, dropout, skip=None):
        """Decoder layer ``i`` (1..5): ``relu(dropout(denorm<i>(deconv<i>(x))))``.

        ``x`` is ``concat((x, skip))`` when a skip connection is given. On the
        fast CPU training path the BatchNormalization and the ReLU are fused
        and the dropout follows them: its mask scales by 0 or 2, which
        commutes with the ReLU, so the values are the same. The mask there
        comes from random bits (:func:`unetvocalsep.fast.fastconv.dropout`), not
        from chainer's float64 uniforms: the same distribution, a different
        draw for a given seed.
        """
        name = "deconv%d" % i
        h = self._conv(name, x) if skip is None else self._deconv_skip(name, x, skip)
        norm = getattr(self, "denorm%d" % i)
        if fastnorm.applies(h):
            h = fastnorm.batch_norm_act(norm, h, "relu")
            return fastconv.dropout(h) if dropout else h
        h = norm(h)
        return F.relu(F.dropout(h) if dropout else h)

    def forward(self, X):
        """Compute the soft mask: :meth:`UNet.forward <unetvocalsep.network.UNet.forward>` on the fast kernels.

        Parameters
        ----------
        X : array or chainer.Variable, shape (batch, 1, 512, T), float32
            Normalised magnitude spectrogram; ``T`` a multiple of 64.

        Returns
        -------
        chainer.Variable, shape (batch, 1, 512, T), float32
            The mask, in (0, 1).
        """
        h1 = self._encode(1, X)
        h2 = self._encode(2, h1)
        h3 = self._encode(3, h2)
        h4 = self._encode(4, h3)
        h5 = self._encode(5, h4)
        h6 = self._encode(6, h5)
        dh = self._decode(1, h6, dropout=True)
        # each later decoder layer reads concat((dh, skip)), as in the article
        dh = self._decode(2, dh, dropout=True, skip=h5)
        dh = self._decode(3, dh, dropout=True, skip=h4)
        dh = self._decode(4, dh, dropout=False, skip=h3)
        dh = self._decode(5, dh, dropout=False, skip=h2)
        dh = F.sigmoid(self._deconv_skip("deconv6", dh, h1))
        return dh


def from_unet(unet):
    """A :class:`FastUNet` holding a copy of ``unet``'s parameters and statistics.

    Parameters
    ----------
    unet : UNet

    Returns
    -------
    FastUNet
        ``unet`` itself when it is one already.
    """
    if isinstance(unet, FastUNet):
        return unet
    fast = FastUNet()
    fast.copyparams(unet)   # parameters and BatchNorm statistics (persistent values)
    return fast


def for_device(unet, xp):
    """The network to train: :class:`FastUNet` on the CPU (NumPy), ``unet`` on a GPU.

    Parameters
    ----------
    unet : UNet
    xp : module
        The device's array module (``numpy`` or ``cupy``).

    Returns
    -------
    UNet
    """
    import numpy as np

    return from_unet(unet) if xp is np else unet
