"""The article's networks: names, sizes, and weights interchangeable with the article's class."""
import numpy as np
import pytest

import unetvocalsep  # noqa: F401  (compat layer before chainer)
import chainer
from chainer import serializers

import article_unet
from unetvocalsep.network import N_PARAMETERS, UNet, UNetTrainmodel, count_parameters

ATTRS = ([f"conv{i}" for i in range(1, 7)] + [f"norm{i}" for i in range(1, 7)]
         + [f"deconv{i}" for i in range(1, 7)] + [f"denorm{i}" for i in range(1, 6)])


def _randomise(unet, seed):
    """Give every parameter and BN statistic distinct values."""
    rng = np.random.default_rng(seed)
    for _, p in unet.namedparams():
        p.array[...] = rng.normal(0, 0.05, p.shape).astype(np.float32)
    for name in ATTRS:
        link = getattr(unet, name)
        if hasattr(link, "avg_mean"):
            link.avg_mean[...] = rng.normal(0, 0.1, link.avg_mean.shape)
            link.avg_var[...] = rng.uniform(0.5, 1.5, link.avg_var.shape)


def _mask(unet, x):
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", False):
        return unet(x).array


def test_parameter_count_and_names():
    unet = UNet()
    assert count_parameters(unet) == N_PARAMETERS == 6288545
    names = sorted(child.name for child in unet.children())
    assert names == sorted(ATTRS)
    assert count_parameters(unet) == count_parameters(article_unet.UNet())


def test_layer_shapes_follow_the_article():
    unet = UNet()
    enc = [(getattr(unet, f"conv{i}").W.shape) for i in range(1, 7)]
    assert enc == [(16, 1, 4, 4), (32, 16, 4, 4), (64, 32, 4, 4), (128, 64, 4, 4),
                   (256, 128, 4, 4), (512, 256, 4, 4)]
    dec = [(getattr(unet, f"deconv{i}").W.shape) for i in range(1, 7)]
    # Deconvolution2D weights are (in, out, kh, kw)
    assert dec == [(512, 256, 4, 4), (512, 128, 4, 4), (256, 64, 4, 4), (128, 32, 4, 4),
                   (64, 16, 4, 4), (32, 1, 4, 4)]
    for i in range(1, 7):
        assert getattr(unet, f"conv{i}").stride == (2, 2)
        assert getattr(unet, f"conv{i}").pad == (1, 1)


@pytest.mark.parametrize("direction", ["ours_to_article", "article_to_ours"])
def test_npz_round_trip_with_the_article_class(tmp_path, direction):
    ours, theirs = UNet(), article_unet.UNet()
    src, dst = (ours, theirs) if direction == "ours_to_article" else (theirs, ours)
    _randomise(src, 1)
    path = str(tmp_path / "unet.model")
    serializers.save_npz(path, src)
    serializers.load_npz(path, dst)
    x = np.random.default_rng(2).random((2, 1, 512, 128)).astype(np.float32)
    # the same weights give the same mask (to float32 rounding: our CPU path may use
    # the faster convolution kernels of unetvocalsep.fast.fastconv)
    np.testing.assert_allclose(_mask(src, x), _mask(dst, x), rtol=0, atol=1e-6)
    keys = set(np.load(path).keys())
    assert "conv1/W" in keys and "denorm5/avg_var" in keys and "deconv6/b" in keys


def test_mask_shape_range_and_dropout_only_in_training():
    unet = UNet()
    _randomise(unet, 3)
    x = np.random.default_rng(4).random((1, 1, 512, 64)).astype(np.float32)
    m1, m2 = _mask(unet, x), _mask(unet, x)
    assert m1.shape == (1, 1, 512, 64) and m1.dtype == np.float32
    assert np.all((m1 > 0) & (m1 < 1))
    np.testing.assert_array_equal(m1, m2)          # no dropout at test time
    with chainer.using_config("train", True):
        t1, t2 = unet(x).array, unet(x).array
    assert not np.allclose(t1, t2)                  # dropout is active in training


def test_trainmodel_loss_is_the_articles_and_is_reported():
    unet = UNet()
    _randomise(unet, 5)
    model = UNetTrainmodel(unet)
    theirs = article_unet.UNetTrainmodel(article_unet.UNet())
    theirs.unet.copyparams(unet)
    rng = np.random.default_rng(6)
    x = rng.random((2, 1, 512, 64)).astype(np.float32)
    y = (x * rng.random(x.shape)).astype(np.float32)
    observer = {}
    reporter = chainer.Reporter()
    reporter.add_observer("main", model)
    with reporter.scope(observer), chainer.using_config("train", False):
        loss = model(x, y)
        ref = theirs(x, y)
    np.testing.assert_allclose(loss.array, ref.array, rtol=1e-6)
    with chainer.using_config("train", False):
        manual = np.mean(np.abs(x * unet(x).array - y))
    np.testing.assert_allclose(float(loss.array), manual, rtol=1e-5)
    assert float(observer["main/loss"].array) == pytest.approx(float(loss.array))
    assert loss.dtype == np.float32
