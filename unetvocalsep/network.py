"""The article's two networks: :class:`UNet` and :class:`UNetTrainmodel`.

Layer names, shapes and order follow the 2017 Chainer write-up of Jansson et
al. exactly, so that an npz written by ``chainer.serializers.save_npz`` loads
into the article's own class and the other way round.
"""
from . import _compat  # noqa: F401  (must precede chainer)

import chainer
import chainer.functions as F
import chainer.links as L
from chainer import Chain

from . import fastconv, fastnorm


#: Number of trainable parameters (checked against chainer 7.8.1).
N_PARAMETERS = 6288545


class UNet(Chain):
    """The article's U-Net: magnitude spectrogram in, soft mask out.

    Six Convolution2D(k=4, s=2, p=1) + BatchNormalization + leaky_relu,
    then six Deconvolution2D(k=4, s=2, p=1) over the concatenated skips with
    BatchNormalization + relu on the first five, dropout (ratio 0.5, training
    only) on the first three, and a sigmoid at the end.

    Call it with an array ``X`` of shape ``(batch, 1, 512, T)`` where ``T`` is a
    multiple of 64; it returns the mask with the same shape, values in (0, 1).
    """

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.conv1 = L.Convolution2D(1, 16, 4, 2, 1)
            self.norm1 = L.BatchNormalization(16)
            self.conv2 = L.Convolution2D(16, 32, 4, 2, 1)
            self.norm2 = L.BatchNormalization(32)
            self.conv3 = L.Convolution2D(32, 64, 4, 2, 1)
            self.norm3 = L.BatchNormalization(64)
            self.conv4 = L.Convolution2D(64, 128, 4, 2, 1)
            self.norm4 = L.BatchNormalization(128)
            self.conv5 = L.Convolution2D(128, 256, 4, 2, 1)
            self.norm5 = L.BatchNormalization(256)
            self.conv6 = L.Convolution2D(256, 512, 4, 2, 1)
            self.norm6 = L.BatchNormalization(512)

            self.deconv1 = L.Deconvolution2D(512, 256, 4, 2, 1)
            self.denorm1 = L.BatchNormalization(256)
            self.deconv2 = L.Deconvolution2D(512, 128, 4, 2, 1)
            self.denorm2 = L.BatchNormalization(128)
            self.deconv3 = L.Deconvolution2D(256, 64, 4, 2, 1)
            self.denorm3 = L.BatchNormalization(64)
            self.deconv4 = L.Deconvolution2D(128, 32, 4, 2, 1)
            self.denorm4 = L.BatchNormalization(32)
            self.deconv5 = L.Deconvolution2D(64, 16, 4, 2, 1)
            self.denorm5 = L.BatchNormalization(16)
            self.deconv6 = L.Deconvolution2D(32, 1, 4, 2, 1)

    def _conv(self, name, x):
        """Apply convolution link ``name`` (hook point for faster CPU kernels).

        With :func:`unetvocalsep.fastconv.use_fast_path` on (the default) and
        a NumPy input, the link's own ``W`` and ``b`` parameters go through
        :func:`~unetvocalsep.fastconv.conv4x4s2` /
        :func:`~unetvocalsep.fastconv.deconv4x4s2` (same result, same
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
        (:func:`unetvocalsep.fastnorm.batch_norm_act`); same values.
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
        comes from random bits (:func:`unetvocalsep.fastconv.dropout`), not
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
        """Compute the soft mask.

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


class UNetTrainmodel(Chain):
    """The article's training wrapper: L1 loss between ``X * mask`` and ``Y``.

    Parameters
    ----------
    unet : UNet
        The network to train; stored as the child link ``unet``.
    """

    def __init__(self, unet):
        super().__init__()
        with self.init_scope():
            self.unet = unet

    def forward(self, X, Y):
        """Return ``mean_absolute_error(X * unet(X), Y)`` and report it as ``loss``.

        Parameters
        ----------
        X : array, shape (batch, 1, 512, T), float32
            Normalised mixture magnitude.
        Y : array, shape (batch, 1, 512, T), float32
            Normalised target magnitude (vocals or accompaniment).

        Returns
        -------
        chainer.Variable, shape (), float32
        """
        O = self.unet(X)
        self.loss = F.mean_absolute_error(X * O, Y)
        chainer.report({"loss": self.loss}, self)
        return self.loss


def count_parameters(link):
    """Number of scalar parameters of a link.

    Parameters
    ----------
    link : chainer.Link

    Returns
    -------
    int
    """
    return int(sum(p.size for p in link.params()))
