"""Tests of the fast CPU (de)convolution path (unetvocalsep.fast.fastconv).

The references are chainer's own ``L.Convolution2D(c, o, 4, 2, 1)`` and
``L.Deconvolution2D(c, o, 4, 2, 1)``; gradients are checked numerically with
``chainer.gradient_check.check_backward`` in float64.
"""
import numpy as np
import pytest

from unetvocalsep import _compat  # noqa: F401  (must precede chainer)

import chainer
import chainer.functions as F
import chainer.links as L
from chainer import gradient_check

from unetvocalsep.fast import convlayout, fastpath, fastconv
from unetvocalsep.fast.fastunet import FastUNet
from unetvocalsep.network import UNet, UNetTrainmodel


def rel_err(a, b):
    """max|a - b| / max|b|."""
    a = a.array if isinstance(a, chainer.Variable) else a
    b = b.array if isinstance(b, chainer.Variable) else b
    assert a.shape == b.shape
    return float(np.abs(a - b).max() / np.abs(b).max())


# (N, C_in, C_out, H, W): odd channel counts, non-square and tiny grids, and
# the U-Net's own layer shapes (for a 512 x 64 input) on which both memory
# layouts ("cl" and "cf") are chosen.
CONV_SHAPES = [
    (2, 1, 16, 512, 64),
    (2, 16, 32, 256, 32),
    (1, 64, 128, 64, 8),
    (1, 256, 512, 16, 2),
    (3, 5, 7, 6, 10),
    (2, 3, 2, 2, 2),
    (3, 4, 6, 64, 64),   # backward's col2im in batch chunks of 2 + 1
]
DECONV_SHAPES = [
    (1, 512, 256, 8, 1),
    (1, 512, 128, 16, 2),
    (2, 128, 32, 64, 8),
    (2, 32, 1, 256, 32),
    (3, 5, 7, 3, 5),
    (2, 3, 2, 1, 1),
    (3, 16, 8, 32, 32),  # forward and backward in batch chunks of 2 + 1
]


@pytest.mark.parametrize("layout", ["auto", "cl", "cf"])
@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv_matches_chainer(shape, layout, monkeypatch):
    if layout != "auto":
        monkeypatch.setattr(fastconv, "_choose_layout", lambda c, w: layout)
    n, c, o, h, w = shape
    rng = np.random.default_rng(1)
    link = L.Convolution2D(c, o, 4, 2, 1)
    link.b.array[...] = rng.standard_normal(o)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    ref = link(x)
    y = fastconv.conv4x4s2(x, link.W, link.b)
    assert y.dtype == np.float32
    assert rel_err(y, ref) < 1e-5

    gy = rng.standard_normal(ref.shape).astype(np.float32)
    xr, xf = chainer.Variable(x.copy()), chainer.Variable(x.copy())
    link.cleargrads()
    yr = link(xr)
    yr.grad = gy
    yr.backward()
    gW_ref, gb_ref = link.W.grad.copy(), link.b.grad.copy()
    link.cleargrads()
    yf = fastconv.conv4x4s2(xf, link.W, link.b)
    yf.grad = gy
    yf.backward()
    assert rel_err(xf.grad, xr.grad) < 1e-5
    assert rel_err(link.W.grad, gW_ref) < 1e-5
    assert rel_err(link.b.grad, gb_ref) < 1e-5


@pytest.mark.parametrize("layout", ["auto", "cl", "cf"])
@pytest.mark.parametrize("shape", DECONV_SHAPES)
def test_deconv_matches_chainer(shape, layout, monkeypatch):
    if layout != "auto":
        monkeypatch.setattr(fastconv, "_choose_layout", lambda c, w: layout)
    n, c, o, h, w = shape
    rng = np.random.default_rng(2)
    link = L.Deconvolution2D(c, o, 4, 2, 1)
    link.b.array[...] = rng.standard_normal(o)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    ref = link(x)
    y = fastconv.deconv4x4s2(x, link.W, link.b)
    assert y.shape == (n, o, 2 * h, 2 * w)
    assert rel_err(y, ref) < 1e-5

    gy = rng.standard_normal(ref.shape).astype(np.float32)
    xr, xf = chainer.Variable(x.copy()), chainer.Variable(x.copy())
    link.cleargrads()
    yr = link(xr)
    yr.grad = gy
    yr.backward()
    gW_ref, gb_ref = link.W.grad.copy(), link.b.grad.copy()
    link.cleargrads()
    yf = fastconv.deconv4x4s2(xf, link.W, link.b)
    yf.grad = gy
    yf.backward()
    assert rel_err(xf.grad, xr.grad) < 1e-5
    assert rel_err(link.W.grad, gW_ref) < 1e-5
    assert rel_err(link.b.grad, gb_ref) < 1e-5


def test_non_contiguous_inputs():
    """Strided inputs (like BatchNorm output of a previous fast layer) work."""
    rng = np.random.default_rng(3)
    link = L.Convolution2D(6, 4, 4, 2, 1)
    base = rng.standard_normal((2, 8, 12, 6)).astype(np.float32)
    x = base.transpose(0, 3, 1, 2)  # NCHW view of NHWC memory
    assert rel_err(fastconv.conv4x4s2(x, link.W, link.b), link(x)) < 1e-5
    dlink = L.Deconvolution2D(6, 3, 4, 2, 1)
    x = base[:, ::2].transpose(0, 3, 1, 2)
    assert rel_err(fastconv.deconv4x4s2(x, dlink.W, dlink.b), dlink(x)) < 1e-5


@pytest.mark.parametrize("layout", ["cl", "cf"])
def test_conv_gradient_check(layout, monkeypatch):
    monkeypatch.setattr(fastconv, "_choose_layout", lambda c, w: layout)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 4))
    W = rng.standard_normal((5, 3, 4, 4))
    b = rng.standard_normal(5)
    gy = rng.standard_normal((2, 5, 3, 2))
    gradient_check.check_backward(
        fastconv.conv4x4s2, (x, W, b), gy, dtype=np.float64, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("layout", ["cl", "cf"])
def test_deconv_gradient_check(layout, monkeypatch):
    monkeypatch.setattr(fastconv, "_choose_layout", lambda c, w: layout)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 3, 2))
    W = rng.standard_normal((3, 4, 4, 4))
    b = rng.standard_normal(4)
    gy = rng.standard_normal((2, 4, 6, 4))
    gradient_check.check_backward(
        fastconv.deconv4x4s2, (x, W, b), gy, dtype=np.float64, atol=1e-6, rtol=1e-5)


def test_without_bias_and_float64():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 4, 4))
    link = L.Convolution2D(2, 3, 4, 2, 1, nobias=True)
    link.W.array = link.W.array.astype(np.float64)
    y = fastconv.conv4x4s2(x, link.W)
    assert y.dtype == np.float64
    assert rel_err(y, link(x)) < 1e-12


def test_double_backprop_raises_clearly():
    rng = np.random.default_rng(7)
    x = chainer.Variable(rng.standard_normal((1, 2, 4, 4)).astype(np.float32))
    link = L.Convolution2D(2, 3, 4, 2, 1)
    y = fastconv.conv4x4s2(x, link.W, link.b)
    with pytest.raises(NotImplementedError, match="double backprop"):
        chainer.grad([chainer.functions.sum(y * y)], [x], enable_double_backprop=True)


def test_bad_shapes_rejected():
    link = L.Convolution2D(2, 3, 4, 2, 1)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        fastconv.conv4x4s2(np.zeros((1, 2, 5, 4), np.float32), link.W, link.b)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        fastconv.conv4x4s2(np.zeros((1, 3, 4, 4), np.float32), link.W, link.b)


def test_function_for_accepts_only_unet_links():
    assert fastconv.function_for(L.Convolution2D(2, 3, 4, 2, 1)) is fastconv.conv4x4s2
    assert fastconv.function_for(L.Deconvolution2D(2, 3, 4, 2, 1)) is fastconv.deconv4x4s2
    assert fastconv.function_for(L.Convolution2D(2, 3, 3, 1, 1)) is None
    assert fastconv.function_for(L.Convolution2D(2, 3, 4, 2, 0)) is None
    assert fastconv.function_for(L.Deconvolution2D(2, 3, 4, 2, 1, outsize=(8, 8))) is None
    assert fastconv.function_for(L.Convolution2D(None, 3, 4, 2, 1)) is None


def _unet_pass(fast, unet, X, Y):
    model = UNetTrainmodel(unet)
    model.cleargrads()
    # the fast path draws its dropout masks from random bits (fastconv.dropout,
    # tested on its own below); here both paths take chainer's, so that the
    # masks are identical and only the kernels are compared
    saved, fastconv.dropout = fastconv.dropout, F.dropout
    try:
        return _unet_pass_same_masks(fast, unet, model, X, Y)
    finally:
        fastconv.dropout = saved


def _unet_pass_same_masks(fast, unet, model, X, Y):
    with fastconv.use_fast_path(fast), chainer.using_config("train", True):
        # dropout masks must be identical in both runs
        np.random.seed(0)
        mask = unet(X)
        np.random.seed(0)
        loss = model(X, Y)
        loss.backward()
    grads = {name: p.grad.copy() for name, p in model.namedparams()}
    return mask.array, float(loss.array), grads


def _grad_errors(g_fast, g_plain):
    """Per-parameter error max|a - b| / (max|b| over the parameter's link).

    The convolution biases feed BatchNorm, so their exact gradient is 0 and
    the computed one is rounding noise; they are measured against the scale
    of their link's weight gradient instead of their own.
    """
    scale = {}
    for name, g in g_plain.items():
        link = name.rsplit("/", 1)[0]
        scale[link] = max(scale.get(link, 0.0), float(np.abs(g).max()))
    return {name: float(np.abs(g_fast[name] - g).max()) / scale[name.rsplit("/", 1)[0]]
            for name, g in g_plain.items()}


@pytest.mark.parametrize("dtype, grad_tol", [(np.float64, 1e-5), (np.float32, 1e-4)])
def test_unet_fast_equals_plain(dtype, grad_tol):
    """Mask, loss and all 46 parameter gradients agree with the plain links.

    float64 checks the gradients at 1e-5.  In float32 the fast and the plain
    gradients are both compared with the float64 ones (see below); mask and
    loss keep 1e-5.
    """
    rng = np.random.default_rng(8)
    np.random.seed(1)          # chainer's initialisers draw from NumPy's global RNG
    with chainer.using_config("dtype", dtype):
        unet = FastUNet()
    X = rng.random((2, 1, 512, 64)).astype(dtype)
    Y = rng.random((2, 1, 512, 64)).astype(dtype)
    m_fast, l_fast, g_fast = _unet_pass(True, unet, X, Y)
    m_plain, l_plain, g_plain = _unet_pass(False, unet, X, Y)
    assert m_fast.dtype == dtype
    assert rel_err(m_fast, m_plain) < 1e-5
    assert abs(l_fast - l_plain) / abs(l_plain) < 1e-5
    assert set(g_fast) == set(g_plain) and len(g_fast) == 46
    errors = _grad_errors(g_fast, g_plain)
    worst = max(errors, key=errors.get)
    if dtype == np.float64:
        assert errors[worst] < grad_tol, (worst, errors[worst])
    else:
        # In float32 the BatchNorm backward through twelve layers amplifies
        # rounding, and a pre-activation near 0 can flip a ReLU: over six
        # random initialisations plain chainer was up to 5e-3 off the float64
        # gradient (5.8 % where a unit flipped in both paths), the fast path
        # at most 6e-6 otherwise.  So both are measured against float64 and
        # the fast path must be no worse than twice the plain one's error.
        with chainer.using_config("dtype", np.float64):
            u64 = FastUNet()
        u64.copyparams(unet)
        _, _, g64 = _unet_pass(False, u64, X.astype(np.float64), Y.astype(np.float64))
        g64 = {k: v.astype(np.float32) for k, v in g64.items()}
        e_fast, e_plain = _grad_errors(g_fast, g64), _grad_errors(g_plain, g64)
        bad = {k: (e_fast[k], e_plain[k]) for k in e_fast
               if e_fast[k] > max(2 * e_plain[k], grad_tol)}
        assert not bad, bad
    # and the weight gradients themselves are far from zero
    assert all(np.abs(g_plain[k]).max() > 0 for k in g_plain if k.endswith("/W"))


def test_unet_inference_fast_equals_plain():
    rng = np.random.default_rng(9)
    unet = FastUNet()
    X = rng.random((1, 1, 512, 128), dtype=np.float32)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        with fastconv.use_fast_path(True):
            fast = unet(X).array
        with fastconv.use_fast_path(False):
            plain = unet(X).array
    assert rel_err(fast, plain) < 1e-5


def _count_calls(monkeypatch):
    calls = {"conv": 0, "deconv": 0}
    conv, deconv = fastconv.conv4x4s2, fastconv.deconv4x4s2
    deconv_concat = fastconv.deconv4x4s2_concat

    def counting_conv(*a):
        calls["conv"] += 1
        return conv(*a)

    def counting_deconv(*a):
        calls["deconv"] += 1
        return deconv(*a)

    def counting_deconv_concat(*a):
        calls["deconv"] += 1
        return deconv_concat(*a)

    monkeypatch.setattr(fastconv, "conv4x4s2", counting_conv)
    monkeypatch.setattr(fastconv, "deconv4x4s2", counting_deconv)
    monkeypatch.setattr(fastconv, "deconv4x4s2_concat", counting_deconv_concat)
    # UNet._deconv_skip recognises deconvolution links by the function_for result
    monkeypatch.setattr(fastconv, "function_for", lambda link, f=fastconv.function_for: (
        deconv if f(link) is deconv else f(link)))
    return calls


def test_switch_really_switches(monkeypatch):
    calls = _count_calls(monkeypatch)
    unet = FastUNet()
    X = np.zeros((1, 1, 512, 64), np.float32)
    with chainer.using_config("train", False):
        with fastconv.use_fast_path(False):
            assert not fastconv.fast_path_enabled()
            unet(X)
        assert calls == {"conv": 0, "deconv": 0}
        with fastconv.use_fast_path(True):
            assert fastconv.fast_path_enabled()
            unet(X)
        assert calls == {"conv": 6, "deconv": 6}
        # a chainer.Variable input also takes the fast path
        with fastconv.use_fast_path(True):
            unet(chainer.Variable(X))
        assert calls == {"conv": 12, "deconv": 12}


def test_switch_plain_call_and_restore():
    before = fastconv.fast_path_enabled()
    try:
        fastconv.use_fast_path(False)
        assert not fastconv.fast_path_enabled()
        with fastconv.use_fast_path(True):
            assert fastconv.fast_path_enabled()
        assert not fastconv.fast_path_enabled()
    finally:
        fastconv.use_fast_path(before)
    assert fastconv.fast_path_enabled() == before


@pytest.mark.parametrize("value, expected", [("0", False), ("1", True), ("", True),
                                             ("off", False)])
def test_env_var(value, expected, monkeypatch):
    monkeypatch.setenv("UNETVOCALSEP_FAST_PATH", value)
    assert fastpath.environment()["fast_path"] is expected


def test_old_env_var_name_still_works(monkeypatch):
    monkeypatch.delenv("UNETVOCALSEP_FAST_PATH", raising=False)
    monkeypatch.setenv("UNETVOCALSEP_FASTCONV", "0")
    with pytest.warns(FutureWarning, match="UNETVOCALSEP_FAST_PATH"):
        assert fastpath.environment()["fast_path"] is False
    monkeypatch.setenv("UNETVOCALSEP_FAST_PATH", "1")      # the new name wins
    assert fastpath.environment()["fast_path"] is True


def test_env_var_bad_value(monkeypatch):
    monkeypatch.setenv("UNETVOCALSEP_FAST_PATH", "maybe")
    with pytest.raises(ValueError, match="UNETVOCALSEP_FAST_PATH"):
        fastpath.environment()["fast_path"]


def test_env_var_read_at_import():
    import subprocess
    import sys
    code = ("from unetvocalsep.fast import fastconv; "
            "print(fastconv.fast_path_enabled())")
    import os
    env = dict(os.environ, UNETVOCALSEP_FAST_PATH="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert out.stdout.strip() == "False"


def test_non_numpy_input_uses_plain_link(monkeypatch):
    """Anything that is not a NumPy array (e.g. CuPy) goes through the link."""
    calls = _count_calls(monkeypatch)

    class FakeDeviceArray:
        pass

    assert not fastconv.is_fast_input(FakeDeviceArray())
    assert fastconv.is_fast_input(np.zeros(1, np.float32))
    with fastconv.use_fast_path(False):
        assert not fastconv.is_fast_input(np.zeros(1, np.float32))
    assert calls == {"conv": 0, "deconv": 0}


def test_leaky_relu_matches_chainer_and_gradient():
    import chainer.functions as F
    from chainer import gradient_check

    from unetvocalsep.fast.fastconv import leaky_relu

    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 8, 6)).astype(np.float32)
    x[0, 0, 0, :3] = 0.0                              # the kink itself
    np.testing.assert_array_equal(leaky_relu(x, 0.2).array, F.leaky_relu(x, 0.2).array)
    xv = chainer.Variable(x.copy())
    yv = chainer.Variable(x.copy())
    gy = rng.standard_normal(x.shape).astype(np.float32)
    a, b = leaky_relu(xv, 0.2), F.leaky_relu(yv, 0.2)
    a.grad, b.grad = gy, gy
    a.backward()
    b.backward()
    np.testing.assert_array_equal(xv.grad, yv.grad)
    x64 = rng.standard_normal((3, 5)) + 0.5           # away from 0 for finite differences
    x64[np.abs(x64) < 0.05] = 0.3
    gradient_check.check_backward(lambda v: leaky_relu(v, 0.2), x64, rng.standard_normal((3, 5)))
    with pytest.raises(ValueError):
        leaky_relu(x, 1.5)


@pytest.mark.parametrize("o, c", [(512, 256), (7, 3), (1, 32)])
def test_weight_matrix_round_trip_and_order(o, c):
    rng = np.random.default_rng(4)
    W = rng.standard_normal((o, c, 4, 4)).astype(np.float32)
    Wm = fastconv._weight_matrix(W)
    assert Wm.shape == (16 * c, o) and Wm.flags.c_contiguous
    # row (a, b, p, q, ch) holds tap (2a + p, 2b + q) of input channel ch
    a, b, p, q, ch = 1, 0, 1, 1, c - 1
    row = ((((a * 2 + b) * 2 + p) * 2 + q) * c) + ch
    assert np.array_equal(Wm[row], W[:, ch, 2 * a + p, 2 * b + q])
    assert np.array_equal(fastconv._weight_from_matrix(Wm, o, c), W)


def test_transpose2d_any_block():
    a = np.arange(130 * 7, dtype=np.float32).reshape(130, 7)
    for block in (1, 64, 500):
        t = convlayout._transpose2d(a, block)
        assert t.flags.c_contiguous and np.array_equal(t, a.T)


@pytest.mark.parametrize("layout", ["cl", "cf"])
def test_deconv_concat_matches_concat_then_deconv(layout, monkeypatch):
    monkeypatch.setattr(fastconv, "_choose_layout", lambda c, w: layout)
    rng = np.random.default_rng(6)
    link = L.Deconvolution2D(12, 5, 4, 2, 1)
    link.b.array[...] = rng.standard_normal(5)
    # one block in each memory order, as the U-Net's decoder output and skip are
    a = np.ascontiguousarray(rng.standard_normal((3, 7, 32, 32)).astype(np.float32)
                             .transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    b = np.ascontiguousarray(rng.standard_normal((3, 5, 32, 32)).astype(np.float32)
                             .transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    ar, br, af, bf = (chainer.Variable(v.copy()) for v in (a, b, a, b))
    ref = link(F.concat((ar, br)))
    gy = rng.standard_normal(ref.shape).astype(np.float32)
    link.cleargrads()
    ref.grad = gy
    ref.backward()
    gW_ref, gb_ref = link.W.grad.copy(), link.b.grad.copy()
    link.cleargrads()
    y = fastconv.deconv4x4s2_concat((af, bf), link.W, link.b)
    assert y.creator.label == "Deconv4x4S2"
    assert rel_err(y, ref) < 1e-5
    y.grad = gy
    y.backward()
    assert rel_err(af.grad, ar.grad) < 1e-5
    assert rel_err(bf.grad, br.grad) < 1e-5
    assert rel_err(link.W.grad, gW_ref) < 1e-5
    assert rel_err(link.b.grad, gb_ref) < 1e-5
    # only the skip needs a gradient (the other block is a constant)
    link.cleargrads()
    y = fastconv.deconv4x4s2_concat((a, chainer.Variable(b.copy())), link.W)
    y.grad = gy
    y.backward()
    assert link.W.grad is not None and link.b.grad is None


def test_deconv_concat_rejects_wrong_channels():
    W = np.zeros((6, 2, 4, 4), np.float32)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        fastconv.deconv4x4s2_concat((np.zeros((1, 3, 4, 4), np.float32),
                                     np.zeros((1, 2, 4, 4), np.float32)), W)


def test_dropout_half_mask_is_fair_seeded_and_in_layout():
    import chainer
    from unetvocalsep.fast.fastconv import dropout

    x = np.ascontiguousarray(np.random.default_rng(0).standard_normal((4, 16, 32, 8)).astype(np.float32)
                             .transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)   # channels-last storage
    with chainer.using_config("train", True):
        np.random.seed(5)
        v = chainer.Variable(x)
        y = dropout(v)
        np.random.seed(5)
        y2 = dropout(x)
    kept = y.array != 0
    assert abs(kept.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(y.array[kept], 2 * x[kept])
    np.testing.assert_array_equal(y.array, y2.array)              # the seed fixes the mask
    assert y.array.strides == x.strides                            # same memory layout
    # masks of neighbouring elements are independent, along every axis
    for axis in range(4):
        a, b = np.moveaxis(kept, axis, 0)[:-1], np.moveaxis(kept, axis, 0)[1:]
        assert abs((a == b).mean() - 0.5) < 0.02, axis
    gy = np.ones_like(x)
    y.grad = gy
    y.backward()
    np.testing.assert_array_equal(v.grad, np.where(kept, 2, 0))


def test_dropout_other_cases_are_chainers():
    import chainer
    from unetvocalsep.fast.fastconv import dropout

    x = np.ones((2, 3, 4, 4), np.float32)
    with chainer.using_config("train", False):
        np.testing.assert_array_equal(dropout(x).array, x)
    with chainer.using_config("train", True):
        y = dropout(np.ones((200, 100), np.float32), ratio=0.2)
    assert set(np.unique(y.array).round(4)) == {0.0, 1.25}


def test_article_unet_is_plain_and_fastunet_matches_it(monkeypatch):
    """network.UNet is the article's forward (no fast kernel, no fast import);
    FastUNet has the same npz keys and gives the same mask (issue 30)."""
    import ast
    import inspect

    from unetvocalsep.fast import fastunet
    from unetvocalsep import network
    from unetvocalsep.network import count_parameters

    tree = ast.parse(inspect.getsource(network))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}
    assert not imported & {"fastconv", "fastnorm", "fastpath", "inference", "fastunet"}
    calls = _count_calls(monkeypatch)
    np.random.seed(3)
    plain = UNet()
    fast = fastunet.from_unet(plain)
    assert isinstance(fast, FastUNet) and count_parameters(fast) == network.N_PARAMETERS
    for (n1, p1), (n2, p2) in zip(sorted(plain.namedparams()), sorted(fast.namedparams())):
        assert n1 == n2 and p1.array is not p2.array
        np.testing.assert_array_equal(p1.array, p2.array)
    np.testing.assert_array_equal(fast.norm3.avg_var, plain.norm3.avg_var)
    X = np.random.default_rng(5).random((1, 1, 512, 64), dtype=np.float32)
    with chainer.using_config("train", False), fastconv.use_fast_path(True):
        m_plain = plain(X).array
        assert calls == {"conv": 0, "deconv": 0}         # the article's class: links only
        m_fast = fast(X).array
        assert calls == {"conv": 6, "deconv": 6}
    assert rel_err(m_fast, m_plain) < 1e-5
    assert fastunet.for_device(plain, np) is not plain
    assert isinstance(fastunet.for_device(plain, np), FastUNet)
