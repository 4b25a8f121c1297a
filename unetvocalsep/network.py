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

    def forward(self, X):
        """Compute the soft mask: the article's forward pass, line for line.

        Parameters
        ----------
        X : array or chainer.Variable, shape (batch, 1, 512, T), float32
            Normalised magnitude spectrogram; ``T`` a multiple of 64.

        Returns
        -------
        chainer.Variable, shape (batch, 1, 512, T), float32
            The mask, in (0, 1).

        Notes
        -----
        Training on the CPU uses :class:`unetvocalsep.fast.fastunet.FastUNet`, a
        subclass with the same links (so the same npz keys) whose layers run
        on faster CPU kernels; separation uses the ONNX or NumPy backends.
        """
        h1 = F.leaky_relu(self.norm1(self.conv1(X)))
        h2 = F.leaky_relu(self.norm2(self.conv2(h1)))
        h3 = F.leaky_relu(self.norm3(self.conv3(h2)))
        h4 = F.leaky_relu(self.norm4(self.conv4(h3)))
        h5 = F.leaky_relu(self.norm5(self.conv5(h4)))
        h6 = F.leaky_relu(self.norm6(self.conv6(h5)))
        dh = F.relu(F.dropout(self.denorm1(self.deconv1(h6))))
        dh = F.relu(F.dropout(self.denorm2(self.deconv2(F.concat((dh, h5))))))
        dh = F.relu(F.dropout(self.denorm3(self.deconv3(F.concat((dh, h4))))))
        dh = F.relu(self.denorm4(self.deconv4(F.concat((dh, h3)))))
        dh = F.relu(self.denorm5(self.deconv5(F.concat((dh, h2)))))
        dh = F.sigmoid(self.deconv6(F.concat((dh, h1))))
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


def chainer_forward(unet, x, device=None):
    """``unet(x)`` in chainer's test mode, without backprop, back on the CPU.

    Parameters
    ----------
    unet : UNet
    x : numpy.ndarray, shape (batch, 1, 512, frames), float32
    device : chainer.backend.Device or None
        Where ``unet`` lives; the CPU when None.

    Returns
    -------
    numpy.ndarray, same shape as ``x``, float32
    """
    import chainer

    if device is not None:
        x = device.send(x)
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        m = unet(x).array
    return chainer.backend.CpuDevice().send(m)
