"""unetvocalsep._compat: each patch applied exactly when needed, and no float32 drift.

The dtype tests run on whatever NumPy is installed; CI runs them under NumPy
1.26 (Python 3.11) and NumPy 2 (Python 3.13), where NEP 50 promotion rules
apply and would turn float32 into float64 if a Python or NumPy float64 scalar
leaked into chainer's arithmetic.
"""
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from unetvocalsep import _compat

import chainer  # noqa: E402  (after _compat)
import chainer.functions as F
from chainer import optimizers, serializers
from hardening import PY  # noqa: F401  (fixtures and helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_python(code, **kwargs):
    """Run ``code`` in a fresh interpreter (this one's), from the repository root."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120, **kwargs)


# ---------------------------------------------------------------- decisions

def fake_importer(failing):
    """An import_module that raises ``failing[name]`` for the names given."""
    seen = []

    def import_module(name):
        seen.append(name)
        if name in failing:
            raise failing[name]
        return types.ModuleType(name)

    import_module.seen = seen
    return import_module


def test_environment_check_decision_follows_its_imports():
    ok = fake_importer({})
    assert not _compat.environment_check_fails(ok)
    assert ok.seen == ["numpy.distutils.system_info", "pkg_resources"]
    # Python >= 3.12 / NumPy without numpy.distutils:
    assert _compat.environment_check_fails(
        fake_importer({"numpy.distutils.system_info": ModuleNotFoundError("numpy.distutils")}))
    # setuptools >= 74: numpy.distutils trips over distutils.msvccompiler.
    assert _compat.environment_check_fails(
        fake_importer({"numpy.distutils.system_info": AttributeError("msvccompiler")}))
    # no setuptools, or one without pkg_resources (>= 81):
    assert _compat.environment_check_fails(
        fake_importer({"pkg_resources": ModuleNotFoundError("pkg_resources")}))


def test_environment_check_stub_registered_only_when_needed():
    modules = {}
    assert not _compat.install_environment_check_stub(modules, fake_importer({}))
    assert modules == {}
    failing = fake_importer({"pkg_resources": ImportError("no")})
    assert _compat.install_environment_check_stub(modules, failing)
    stub = modules["chainer._environment_check"]
    assert stub.__unetvocalsep_stub__ and stub.check() is None
    # never after chainer is imported (too late) or twice
    assert not _compat.install_environment_check_stub({"chainer": object()}, failing)
    assert not _compat.install_environment_check_stub(modules, failing)
    assert modules["chainer._environment_check"] is stub


class _Numpy2Like(types.ModuleType):
    """A module that, like NumPy 2, raises AttributeError for ``sctypes``."""

    def __getattr__(self, name):
        raise AttributeError(f"`np.{name}` was removed in the NumPy 2.0 release")


def test_sctypes_restored_only_when_missing():
    np2 = _Numpy2Like("fake_numpy2")
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "longdouble", "complex64", "complex128",
                 "clongdouble", "void", "dtype"):
        setattr(np2, name, getattr(np, name))
    assert _compat.sctypes_missing(np2)
    assert _compat.restore_sctypes(np2)
    assert not _compat.sctypes_missing(np2)
    assert np2.sctypes["int"] == [np.int8, np.int16, np.int32, np.int64]
    assert np2.sctypes["float"][:3] == [np.float16, np.float32, np.float64]

    np1 = types.ModuleType("fake_numpy1")
    np1.sctypes = original = {"int": []}
    assert not _compat.sctypes_missing(np1)
    assert not _compat.restore_sctypes(np1)
    assert np1.sctypes is original


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) >= "2.0.0",
                    reason="compares with NumPy 1.x's own np.sctypes")
def test_rebuilt_sctypes_equal_numpy1():
    assert _compat.numpy1_sctypes(np) == np.sctypes


def test_chainer_sees_the_integer_types_it_expects():
    from chainer.functions.array import as_strided

    assert as_strided.index_dtype == {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}
    x = chainer.Variable(np.arange(6, dtype=np.float32))
    y = F.as_strided(x, (2, 2), (1, 1))  # overlapping view (strides in elements): backward uses np.sctypes['float']
    F.sum(y).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [1, 2, 1, 0, 0, 0])


def test_applied_patches_are_exactly_the_needed_ones():
    """In a fresh interpreter: chainer's own imports decide, not a version table."""
    probe = run_python(
        "import warnings; warnings.simplefilter('ignore')\n"
        "import numpy.distutils.system_info, pkg_resources")
    env_check_needed = probe.returncode != 0
    sctypes_needed = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
    proc = run_python(
        "import sys, numpy\n"
        "had = hasattr(numpy, 'sctypes')\n"
        "import unetvocalsep.network\n"
        "from unetvocalsep import _compat\n"
        "mod = sys.modules['chainer._environment_check']\n"
        "print(repr((_compat.APPLIED, had, getattr(mod, '__unetvocalsep_stub__', False))))")
    assert proc.returncode == 0, proc.stderr
    applied, had_sctypes, stubbed = eval(proc.stdout.strip().splitlines()[-1])
    assert ("environment-check" in applied) == env_check_needed == stubbed
    assert ("np.sctypes" in applied) == (not had_sctypes)
    assert ("np.sctypes" in applied) == sctypes_needed
    if env_check_needed or not had_sctypes:
        # and without the layer, chainer really does not import here
        bare = run_python("import chainer")
        assert bare.returncode != 0
    else:
        assert applied == []


def test_works_without_setuptools_or_numpy_distutils():
    """As if setuptools / pkg_resources and numpy.distutils were not installed at all."""
    proc = run_python(
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('setuptools', 'pkg_resources', '_distutils_hack')"
        " or name.startswith('numpy.distutils'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from unetvocalsep.network import UNet, UNetTrainmodel\n"
        "from unetvocalsep import _compat\n"
        "import chainer\n"
        "m = UNetTrainmodel(UNet())\n"
        "x = np.random.rand(1, 1, 512, 64).astype(np.float32)\n"
        "loss = m(x, x * 0.5); loss.backward()\n"
        "assert 'pkg_resources' not in sys.modules and 'setuptools' not in sys.modules\n"
        "print(_compat.APPLIED, loss.array.dtype)")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "environment-check" in proc.stdout and "float32" in proc.stdout


def test_import_after_chainer_changes_nothing():
    proc = run_python(
        "import sys\n"
        "from unetvocalsep import _compat\n"
        "import chainer\n"
        "before = list(_compat.APPLIED)\n"
        "assert _compat.apply() == before\n"
        "assert not _compat.install_environment_check_stub()\n"
        "print('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


# ---------------------------------------------------------------- float32 stays float32

class DtypeHook(chainer.FunctionHook):
    """Records the dtype of every function input and every output gradient."""

    name = "DtypeHook"

    def __init__(self):
        self.bad = []

    def _check(self, function, arrays, what):
        for a in arrays:
            if a is not None and getattr(a, "dtype", None) is not None and a.dtype != np.float32:
                if a.dtype.kind == "f":
                    self.bad.append((function.label, what, str(a.dtype)))

    def forward_postprocess(self, function, in_data):
        self._check(function, in_data, "input")

    def backward_postprocess(self, function, in_data, out_grad):
        self._check(function, out_grad, "grad")


@pytest.fixture()
def small_model():
    from unetvocalsep.fast.fastunet import FastUNet
    from unetvocalsep.network import UNetTrainmodel

    np.random.seed(1)
    unet = FastUNet()   # with the fast path off it calls the links, as UNet does
    return unet, UNetTrainmodel(unet)


def _batch(seed=0, frames=64):
    rng = np.random.default_rng(seed)
    X = rng.random((2, 1, 512, frames), dtype=np.float32)
    Y = (X * rng.random(X.shape, dtype=np.float32) ** 2).astype(np.float32)
    return X, Y


@pytest.mark.parametrize("fast", [True, False], ids=["fastconv", "chainer-links"])
def test_training_step_stays_float32(small_model, fast):
    from unetvocalsep.fast import fastconv

    unet, model = small_model
    optimizer = optimizers.Adam()
    optimizer.setup(model)
    X, Y = _batch()
    before = {name: p.array.copy() for name, p in model.namedparams()}
    hook = DtypeHook()
    with fastconv.use_fast_path(fast), hook:
        loss = model(X, Y)
        model.cleargrads()
        loss.backward()
    assert hook.bad == []
    assert loss.array.dtype == np.float32 and loss.array.shape == ()
    grads = {name: p.grad for name, p in model.namedparams()}
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    optimizer.update()
    for name, p in model.namedparams():
        assert p.array.dtype == np.float32, name
        for key, state in p.update_rule.state.items():
            assert state.dtype == np.float32, (name, key)
        # Adam's first step, computed here in float64: checks the arithmetic too
        g = grads[name].astype(np.float64)
        alpha_t = 1e-3 * np.sqrt(1 - 0.999) / (1 - 0.9)
        expected = alpha_t * 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-8)
        step = before[name].astype(np.float64) - p.array
        ulp = np.spacing(np.maximum(np.abs(before[name]), np.abs(p.array))).astype(np.float64)
        assert np.all(np.abs(step - expected) <= ulp + 1e-4 * np.abs(expected)), name
    for link in unet.links():
        if isinstance(link, chainer.links.BatchNormalization):
            assert link.avg_mean.dtype == np.float32 and link.avg_var.dtype == np.float32
            assert link.gamma.array.dtype == np.float32


def test_mask_and_serialization_stay_float32(small_model, tmp_path):
    unet, _ = small_model
    X, _ = _batch(1)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        mask = unet(X).array
    assert mask.dtype == np.float32 and mask.shape == X.shape
    assert 0 < mask.min() and mask.max() < 1
    path = str(tmp_path / "u.npz")
    serializers.save_npz(path, unet)
    from unetvocalsep.network import UNet

    other = UNet()
    serializers.load_npz(path, other)
    for (n1, p1), (n2, p2) in zip(sorted(unet.namedparams()), sorted(other.namedparams())):
        assert n1 == n2 and p2.array.dtype == np.float32
        np.testing.assert_array_equal(p1.array, p2.array)
    assert other.norm1.avg_var.dtype == np.float32


def _tiny_cache(folder, n_tracks=2, seconds=4.5):
    from unetvocalsep.training.cache import make_example, save_example

    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    for k in range(n_tracks):
        rng = np.random.default_rng(k)
        vocals = 0.3 * np.sin(2 * np.pi * (220 + 40 * k) * t) * (np.sin(2 * np.pi * t) > 0)
        acc = 0.1 * rng.standard_normal(t.size)
        save_example(str(folder), f"t{k}", make_example(vocals + acc, vocals, sr))
    return str(folder)


def test_trainer_log_snapshot_resume(tmp_path):
    """Trainer, LogReport, snapshot and resume under the running NumPy."""
    from unetvocalsep.training.train import train

    cache = _tiny_cache(tmp_path / "cache")
    out = tmp_path / "out"
    trainer = train(cache, out=str(out), batchsize=1, iteration=2, snapshot_interval=2,
                    log_interval=1, progress=False)
    assert trainer.updater.iteration == 2
    log = json.loads((out / "log").read_text())
    assert [e["iteration"] for e in log] == [1, 2]
    assert all(isinstance(e["main/loss"], float) for e in log)
    from unetvocalsep.model_io import load_model

    unet = load_model(str(out / "unet.npz"))[0]
    assert {p.array.dtype for p in unet.params()} == {np.dtype(np.float32)}
    snap = out / "snapshot_iter_2"
    assert snap.is_file()
    resumed = train(cache, out=str(tmp_path / "out2"), batchsize=1, iteration=3,
                    snapshot_interval=100, log_interval=1, progress=False, resume=str(snap))
    assert resumed.updater.iteration == 3
    opt = resumed.updater.get_optimizer("main")
    assert opt.t == 3
    assert {p.array.dtype for p in opt.target.params()} == {np.dtype(np.float32)}


# ---------------------------------------------------------------- GPU requests without a GPU

@pytest.mark.skipif(chainer.backends.cuda.available, reason="a GPU is present")
def test_train_cli_gpu_request_without_gpu_is_one_line(tmp_path):
    cache = _tiny_cache(tmp_path / "cache", n_tracks=1)
    proc = subprocess.run(
        [sys.executable, "-m", "unetvocalsep.train", cache, "-o", str(tmp_path / "o"),
         "-i", "1", "-b", "1", "--device", "0", "--no-progress"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GPU" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "o" / "unet.npz").exists()


# Issue 13, defect 8: import unetvocalsep; import chainer
def test_08_chainer_imports_after_the_package():
    code = ("import sys, unetvocalsep\n"
            "assert 'chainer' not in sys.modules\n"
            "import chainer\n"
            "assert 'unetvocalsep._compat' in sys.modules\n"
            "unet, cfg = unetvocalsep.load_model()\n"
            "import numpy as np\n"
            "print('ok', np.__version__)")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-2000:]
