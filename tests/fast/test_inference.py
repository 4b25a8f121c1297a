"""The NumPy inference plan (unetvocalsep.fast.inference) against chainer's own forward pass."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from unetvocalsep import _compat  # noqa: F401  (must precede chainer)

import chainer

from unetvocalsep import constants
from unetvocalsep.fast import fastpath, inference
from unetvocalsep.errors import ModelError
from unetvocalsep.fast.inference import InferencePlan
from unetvocalsep.model_io import load_model, load_params, save_model
from unetvocalsep.network import UNet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _trained_like_unet(seed=0):
    """A UNet whose BatchNorm statistics and affine terms are not the identity."""
    rng = np.random.default_rng(seed)
    np.random.seed(seed)
    unet = UNet()
    for link in unet.links():
        if isinstance(link, chainer.links.BatchNormalization):
            link.avg_mean[...] = rng.normal(0, 0.2, link.avg_mean.shape)
            link.avg_var[...] = rng.uniform(0.3, 3.0, link.avg_var.shape)
            link.gamma.array[...] = rng.uniform(0.5, 1.5, link.gamma.shape)
            link.beta.array[...] = rng.normal(0, 0.2, link.beta.shape)
    for name, p in unet.namedparams():
        if name.endswith("/b"):
            p.array[...] = rng.normal(0, 0.1, p.shape)
    return unet


def _chainer_mask(unet, x):
    with fastpath.use_fast_path(False), chainer.using_config("train", False), \
            chainer.no_backprop_mode():
        return unet(x).array


@pytest.fixture(scope="module")
def unet():
    return _trained_like_unet()


@pytest.mark.parametrize("batch, frames", [(1, 64), (1, 128), (2, 192), (1, 640)])
def test_plan_matches_chainer(unet, batch, frames):
    x = np.random.default_rng(frames).random((batch, 1, 512, frames), dtype=np.float32)
    x *= np.linspace(0, 1, frames, dtype=np.float32)  # structure along time, zeros at 0
    ref = _chainer_mask(unet, x)
    got = InferencePlan.from_unet(unet)(x)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.max(np.abs(got - ref)) < 1e-5
    # the mask is not trivially constant, so the comparison means something
    assert ref.std() > 1e-3


def test_plan_reuses_buffers_across_sizes(unet):
    plan = InferencePlan.from_unet(unet)
    rng = np.random.default_rng(1)
    for frames in (128, 64, 128, 256):
        x = rng.random((1, 1, 512, frames), dtype=np.float32)
        assert np.max(np.abs(plan(x) - _chainer_mask(unet, x))) < 1e-5


def test_plan_from_saved_file_float32_and_float16(unet, tmp_path):
    x = np.random.default_rng(2).random((1, 1, 512, 128), dtype=np.float32)
    for dtype in (None, "float16"):
        path = str(tmp_path / f"m{dtype}.npz")
        save_model(path, unet, dtype=dtype)
        params, cfg = load_params(path)
        assert set(params) == set(constants.parameter_shapes())
        ref = _chainer_mask(load_model(path)[0], x)
        assert np.max(np.abs(InferencePlan(params)(x) - ref)) < 1e-5


def test_parameter_shapes_match_the_unet():
    saved = {}
    chainer.serializers.DictionarySerializer(saved).save(UNet())
    shapes = constants.parameter_shapes()
    assert set(saved) == set(shapes)
    assert all(np.shape(saved[k]) == shapes[k] for k in saved)


def test_a_unet_is_read_once_and_rebuilt_on_request():
    """Issue 30: no fingerprint of 6.3 M weights per window; rebuild() reads them again."""
    from unetvocalsep.backends import UNetNetwork, load_network
    from unetvocalsep.masking import compute_mask

    unet = _trained_like_unet(3)
    x = np.random.default_rng(3).random((1, 1, 512, 64), dtype=np.float32)
    with fastpath.use_cpu_backend("plan"):
        net, _ = load_network(unet)
    assert isinstance(net, UNetNetwork) and isinstance(net.net, InferencePlan)
    before = net(x).copy()
    unet.deconv6.W.array *= 2          # what an optimizer step does: in place
    unet.norm3.avg_var[...] *= 1.5     # and a BatchNorm statistic
    assert np.array_equal(net(x), before)          # the weights it was built from
    # the UNet itself, given to compute_mask, runs as it is now (the article's call)
    now = _chainer_mask(unet, x)
    mag = np.zeros((513, 64), np.float32)
    mag[1:] = x[0, 0]
    assert np.max(np.abs(compute_mask(unet, mag)[1:] - now[0, 0])) < 1e-5
    net.rebuild()
    after = net(x)
    assert np.max(np.abs(after - before)) > 1e-3
    assert np.max(np.abs(after - now)) < 1e-5


def test_switched_off_fast_path_gives_chainer(unet):
    from unetvocalsep.backends import ChainerNetwork, load_network

    with fastpath.use_fast_path(False):
        assert isinstance(load_network(unet)[0], ChainerNetwork)
    assert not isinstance(load_network(unet)[0], ChainerNetwork)


def test_plan_rejects_bad_shapes(unet):
    plan = InferencePlan.from_unet(unet)
    for shape in [(1, 1, 512, 100), (1, 2, 512, 64), (1, 1, 256, 64), (512, 64)]:
        with pytest.raises(ValueError, match="shape"):
            plan(np.zeros(shape, np.float32))


def test_plan_is_thread_safe(unet):
    plan = InferencePlan.from_unet(unet)
    rng = np.random.default_rng(4)
    xs = [rng.random((1, 1, 512, f), dtype=np.float32) for f in (128, 192, 128, 64)]
    serial = [plan(x).copy() for x in xs]
    results = [None] * len(xs)

    def run(i):
        results[i] = plan(xs[i]).copy()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(serial, results):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("damage", ["shape", "missing", "nan"])
def test_load_params_rejects_damaged_models(unet, tmp_path, damage):
    arrays = {}
    chainer.serializers.DictionarySerializer(arrays).save(unet)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if damage == "shape":
        arrays["conv3/W"] = arrays["conv3/W"][:, :16]
    elif damage == "missing":
        del arrays["denorm2/avg_var"]
    else:
        arrays["deconv4/b"] = arrays["deconv4/b"].copy()
        arrays["deconv4/b"][0] = np.nan
    path = str(tmp_path / "bad.npz")
    np.savez(path, **arrays)
    with pytest.raises(ModelError, match="bad.npz"):
        load_params(path)


def test_load_params_reads_a_trainer_snapshot(unet, tmp_path):
    arrays = {}
    chainer.serializers.DictionarySerializer(arrays).save(unet)
    path = str(tmp_path / "snapshot_iter_10")
    np.savez(path + ".npz", **{"updater/model:main/unet/" + k: np.asarray(v)
                               for k, v in arrays.items()})
    os.rename(path + ".npz", path)
    params, _ = load_params(path)
    np.testing.assert_array_equal(params["deconv3/W"], unet.deconv3.W.array)


def test_cpu_separation_does_not_import_chainer(random_model, toy_song, tmp_path):
    code = (
        "import sys\n"
        "from unetvocalsep.fast.fastpath import use_cpu_backend\n"
        "use_cpu_backend('plan')\n"
        "from unetvocalsep.separate import main\n"
        "rc = main([sys.argv[1], '-o', sys.argv[2], '--model', sys.argv[3], '--no-progress'])\n"
        "print('chainer' in sys.modules, rc)\n")
    out = subprocess.run([sys.executable, "-c", code, toy_song[0], str(tmp_path / "o"),
                          random_model], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "0"]
    assert (tmp_path / "o" / "toy song" / "vocals.wav").exists()


def test_plan_is_what_the_separator_uses(random_model, toy_song):
    """Fast CPU path and chainer path give the same stems."""
    import soundfile as sf

    from unetvocalsep.separate import Separator

    y, sr = sf.read(toy_song[0], dtype="float32", always_2d=True)
    with fastpath.use_cpu_backend("plan"):
        fast = Separator(random_model)
    assert fast.plan is not None
    with fastpath.use_fast_path(False):
        plain = Separator(random_model)
        assert plain.plan is None
        ref = plain.separate(y.T, sr)
    got = fast.separate(y.T, sr)
    for name in constants.STEMS:
        assert np.max(np.abs(got[name] - ref[name])) < 1e-4
    assert fast.unet is not None and fast.unet.conv1.W.shape == (16, 1, 4, 4)  # the lazy chainer model loads
