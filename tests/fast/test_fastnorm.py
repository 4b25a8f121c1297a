"""The fused BatchNormalization + activation of the CPU training path."""
import copy

import numpy as np
import pytest

import unetvocalsep  # noqa: F401  (compat layer before chainer)
import chainer
import chainer.functions as F
import chainer.links as L
from chainer import gradient_check

from unetvocalsep.fast import fastconv, fastnorm
from unetvocalsep.fast.fastunet import FastUNet
from unetvocalsep.network import UNet, UNetTrainmodel

PLAIN = {"relu": F.relu, "leaky_relu": F.leaky_relu}


def _stored(x, layout):
    """``x`` (NCHW values) stored channels-first, channels-last or plain NCHW."""
    if layout == "cf":
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    if layout == "cl":
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def _links(c, rng, dtype):
    with chainer.using_config("dtype", dtype):
        a = L.BatchNormalization(c)
    a.gamma.array[...] = rng.random(c) + 0.5
    a.beta.array[...] = rng.random(c) - 0.5
    a.avg_mean[...] = rng.random(c)
    a.avg_var[...] = rng.random(c) + 1
    return a, copy.deepcopy(a)


@pytest.mark.parametrize("layout", ["cf", "cl", "nchw"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_matches_chainer_values_gradients_and_running_stats(layout, activation):
    rng = np.random.default_rng(0)
    x = _stored(rng.standard_normal((3, 5, 6, 4)) * 2 + 0.3, layout)
    gy = rng.standard_normal(x.shape)
    fused, plain = _links(5, rng, np.float64)
    xf, xp = chainer.Variable(x.copy()), chainer.Variable(x.copy())
    with chainer.using_config("train", True):
        yf = fastnorm.batch_norm_act(fused, xf, activation)
        yp = PLAIN[activation](plain(xp))
    assert yf.creator.label == "BatchNormAct"
    np.testing.assert_allclose(yf.array, yp.array, rtol=0, atol=1e-12)
    assert (yf.array < 0).any() == (activation == "leaky_relu")
    for link in (fused, plain):
        link.cleargrads()
    yf.grad, yp.grad = gy, gy
    yf.backward()
    yp.backward()
    np.testing.assert_allclose(xf.grad, xp.grad, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fused.gamma.grad, plain.gamma.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.beta.grad, plain.beta.grad, rtol=1e-12, atol=1e-12)
    # chainer's running averages: decay 0.9, unbiased variance
    np.testing.assert_allclose(fused.avg_mean, plain.avg_mean, rtol=1e-12)
    np.testing.assert_allclose(fused.avg_var, plain.avg_var, rtol=1e-12)
    assert not np.allclose(fused.avg_mean, _links(5, np.random.default_rng(0), np.float64)[0].avg_mean)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_gradient_check(activation):
    rng = np.random.default_rng(1)
    x = _stored(rng.standard_normal((2, 3, 4, 4)), "cf")
    gamma = rng.random(3) + 0.5
    beta = rng.random(3) - 0.5
    gy = rng.standard_normal(x.shape)

    def f(x, gamma, beta):
        return fastnorm.BatchNormAct(activation).apply((x, gamma, beta))[0]

    with chainer.using_config("train", True):
        gradient_check.check_backward(f, (x, gamma, beta), gy, dtype=np.float64,
                                      atol=1e-6, rtol=1e-5)


def test_float32_close_to_chainer():
    rng = np.random.default_rng(2)
    x = _stored(rng.standard_normal((4, 16, 32, 8)).astype(np.float32) * 5 + 2, "cl")
    fused, plain = _links(16, rng, np.float32)
    with chainer.using_config("train", True):
        yf = fastnorm.batch_norm_act(fused, x, "leaky_relu")
        yp = F.leaky_relu(plain(x))
    assert yf.dtype == np.float32
    np.testing.assert_allclose(yf.array, yp.array, rtol=0, atol=2e-5)


def test_test_mode_and_switch_use_chainer():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 4, 4)).astype(np.float32)
    link, _ = _links(4, rng, np.float32)
    before = link.avg_mean.copy()
    with chainer.using_config("train", False):
        assert not fastnorm.applies(x)
        y = fastnorm.batch_norm_act(link, x, "relu")
    # the running statistics normalise in test mode, and are not updated
    expected = np.maximum(0, (x - link.avg_mean[:, None, None]) / np.sqrt(
        link.avg_var[:, None, None] + link.eps) * link.gamma.array[:, None, None]
        + link.beta.array[:, None, None])
    np.testing.assert_allclose(y.array, expected, atol=1e-5)
    assert np.array_equal(link.avg_mean, before)
    with chainer.using_config("train", True), fastconv.use_fast_path(False):
        assert not fastnorm.applies(x)
        assert fastnorm.batch_norm_act(link, x, "relu").creator.label != "BatchNormAct"


def test_bad_activation_rejected():
    with pytest.raises(ValueError, match="activation"):
        fastnorm.BatchNormAct("sigmoid")


def test_unet_training_step_same_running_stats(monkeypatch):
    """A fast and a plain training step leave the same BatchNorm averages."""
    # the same dropout masks in both (the fast path's own masks are tested in test_fastconv)
    monkeypatch.setattr(fastconv, "dropout", chainer.functions.dropout)
    rng = np.random.default_rng(4)
    np.random.seed(2)
    fast = FastUNet()
    plain = copy.deepcopy(fast)
    X = rng.random((2, 1, 512, 64), dtype=np.float32)
    Y = rng.random((2, 1, 512, 64), dtype=np.float32)
    for unet, on in ((fast, True), (plain, False)):
        with fastconv.use_fast_path(on), chainer.using_config("train", True):
            np.random.seed(0)
            UNetTrainmodel(unet)(X, Y)
    norms = ["norm%d" % i for i in range(1, 7)] + ["denorm%d" % i for i in range(1, 6)]
    for name in norms:
        a, b = getattr(fast, name), getattr(plain, name)
        np.testing.assert_allclose(a.avg_mean, b.avg_mean, rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(a.avg_var, b.avg_var, rtol=1e-4, atol=1e-6, err_msg=name)
    assert not np.allclose(fast.norm3.avg_var, 1)
