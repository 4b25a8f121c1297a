"""ONNX export (unetvocalsep.fast.ortbackend, unetvocalsep.export) and the onnxruntime backend."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from unetvocalsep import _compat  # noqa: F401,E402  (must precede chainer)

import chainer  # noqa: E402

from unetvocalsep import constants
from unetvocalsep.fast import fastpath  # noqa: E402
from unetvocalsep.export import export_onnx, main as export_main  # noqa: E402
from unetvocalsep.fast.inference import InferencePlan, unet_params  # noqa: E402
from unetvocalsep.backends import choose, load_network  # noqa: E402
from unetvocalsep.model_io import load_params, save_model  # noqa: E402
from unetvocalsep.fast.ortbackend import build_model  # noqa: E402
from unetvocalsep.fast.ortbackend import OnnxNetwork  # noqa: E402

from test_inference import _chainer_mask, _trained_like_unet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def unet():
    return _trained_like_unet(3)


def _session(path_or_bytes, threads=1):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    return ort.InferenceSession(path_or_bytes, so, providers=["CPUExecutionProvider"])


def _real_input(frames=256):
    """Normalised 16 kHz magnitude of the bundled example song (bins 1..512)."""
    from unetvocalsep.audio import load_audio
    from unetvocalsep.spectrogram import spectrogram

    y, sr = load_audio(os.path.join(ROOT, "examples", "example.wav"))
    mag = spectrogram(y, sr)[0]
    mag = mag / mag.max()
    x = np.zeros((1, 1, 512, frames), np.float32)
    n = min(frames, mag.shape[1])
    x[0, 0, :, :n] = mag[1:, :n]
    return x


@pytest.mark.parametrize("batch, frames", [(1, 64), (2, 128), (1, 320)])
def test_onnx_graph_matches_chainer_random_input(unet, batch, frames):
    params, eps = unet_params(unet)
    sess = _session(build_model(params, eps).SerializeToString())
    x = np.random.default_rng(frames).random((batch, 1, 512, frames), dtype=np.float32)
    ref = _chainer_mask(unet, x)
    got = sess.run(["mask"], {"magnitude": x})[0]
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.max(np.abs(got - ref)) < 1e-5
    assert ref.std() > 1e-3   # a mask that varies, so the comparison means something


def test_exported_bundled_model_matches_chainer_on_real_input(tmp_path):
    from unetvocalsep.model_io import load_model

    out = str(tmp_path / "unet.onnx")
    assert export_main([out]) == 0
    model = onnx.load(out)
    onnx.checker.check_model(model)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 512, "frames"]
    x = _real_input(256)
    unet, _ = load_model(None)
    ref = _chainer_mask(unet, x)
    got = _session(out, threads=2).run(None, {"magnitude": x})[0]
    # float32 rounding in another order through 12 layers: up to 2.4e-5 on the
    # real-singing default (larger activations than the free model's 1e-5); a
    # wrong layer or folding moves the mask by more than 1e-2
    assert np.max(np.abs(got - ref)) < 1e-4
    assert ref.std() > 1e-2


def test_export_cli_model_argument_and_overwrite(unet, tmp_path, capsys):
    model = str(tmp_path / "m.npz")
    save_model(model, unet)
    out = str(tmp_path / "m.onnx")
    assert export_main([model, out]) == 0
    first = open(out, "rb").read()
    # an existing output is kept without --overwrite
    assert export_main([out]) == 1
    assert "output exists" in capsys.readouterr().err
    assert open(out, "rb").read() == first
    assert export_main([out, "--overwrite"]) == 0      # now the bundled model
    assert open(out, "rb").read() != first
    x = np.random.default_rng(5).random((1, 1, 512, 64), dtype=np.float32)
    export_main([model, out, "--overwrite"])
    assert np.max(np.abs(_session(out).run(None, {"magnitude": x})[0]
                         - _chainer_mask(unet, x))) < 1e-5


@pytest.mark.parametrize("bad", ["text", "missing", "three"])
def test_export_cli_bad_input_is_one_line(tmp_path, bad):
    args = {"text": [str(tmp_path / "x.npz"), str(tmp_path / "o.onnx")],
            "missing": [str(tmp_path / "nope.npz"), str(tmp_path / "o.onnx")],
            "three": ["a", "b", "c"]}[bad]
    (tmp_path / "x.npz").write_text("not a model")
    r = subprocess.run([sys.executable, "-m", "unetvocalsep.export"] + args,
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_onnx_network_matches_plan_and_checks_shape():
    params, _ = load_params()
    net, plan = OnnxNetwork(params, threads=1), InferencePlan(params)
    x = _real_input(128)
    assert np.max(np.abs(net(x) - plan(x))) < 1e-4     # rounding only (see above)
    with pytest.raises(ValueError):
        net(np.zeros((1, 1, 512, 100), np.float32))


def test_backend_switch_chooses_the_network(monkeypatch):
    with fastpath.use_cpu_backend("plan"):
        assert isinstance(load_network(None)[0], InferencePlan)
    with fastpath.use_cpu_backend("onnx"):
        assert isinstance(load_network(None)[0], OnnxNetwork)
    with pytest.raises(ValueError):
        fastpath.use_cpu_backend("tensorflow")
    monkeypatch.setenv(fastpath.BACKEND_ENV_VAR, "plan")
    assert choose(-1) == "plan"
    monkeypatch.setenv(fastpath.BACKEND_ENV_VAR, "bogus")
    with pytest.raises(ValueError):
        choose(-1)
    # without onnxruntime, onnx (and auto) fall back to the plan
    monkeypatch.setenv(fastpath.BACKEND_ENV_VAR, "onnx")
    assert choose(-1) == "onnx"
    monkeypatch.setattr("unetvocalsep.backends.onnxruntime_available", lambda: False)
    assert choose(-1) == "plan"
    # a GPU, or the fast path off, is chainer whatever the backend setting
    assert choose(0) == "chainer" and choose("@cupy:0") == "chainer"
    with fastpath.use_fast_path(False):
        assert choose(-1) == "chainer"


def test_separate_with_onnx_matches_the_plan(toy_song):
    """Whole-pipeline stems within 1e-4 of the plan's (the issue's bound)."""
    import soundfile as sf

    from unetvocalsep.separate import Separator

    y, sr = sf.read(toy_song[0], dtype="float32", always_2d=True)
    with fastpath.use_cpu_backend("plan"):
        ref = Separator().separate(y.T, sr)
    with fastpath.use_cpu_backend("onnx"):
        sep = Separator()
        assert isinstance(sep.net, OnnxNetwork)
        got = sep.separate(y.T, sr)
    for name in constants.STEMS:
        assert np.max(np.abs(got[name] - ref[name])) < 1e-4
        assert np.abs(ref[name]).max() > 1e-3


def test_chainer_is_not_imported_by_onnx_separation(toy_song, tmp_path):
    code = ("import sys\nfrom unetvocalsep.fast.fastpath import use_cpu_backend\n"
            "use_cpu_backend('onnx')\nfrom unetvocalsep.separate import main\n"
            "rc = main([sys.argv[1], '-o', sys.argv[2], '--no-progress'])\n"
            "print('chainer' in sys.modules, 'onnxruntime' in sys.modules, rc)\n")
    out = subprocess.run([sys.executable, "-c", code, toy_song[0], str(tmp_path / "o")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["False", "True", "0"]


def test_background_build_waits_and_reraises():
    params, _ = load_params()
    net = OnnxNetwork(params, threads=1, background=True)
    x = _real_input(64)
    assert np.max(np.abs(net(x) - InferencePlan(params)(x))) < 1e-5   # waited for the build
    broken = {k: v for k, v in params.items() if k != "deconv3/W"}
    bad = OnnxNetwork(broken, threads=1, background=True)   # returns at once
    with pytest.raises(KeyError):
        bad(x)


def test_graph_cache_is_written_reused_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    import unetvocalsep.fast.ortbackend as ortbackend
    from unetvocalsep.fast.ortbackend import graph_cache_path

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    params, _ = load_params()
    path = graph_cache_path(params)
    assert path.startswith(str(tmp_path)) and not os.path.exists(path)
    x = _real_input(64)
    ref = InferencePlan(params)(x)
    assert np.max(np.abs(OnnxNetwork(params, threads=1, cache=True)(x) - ref)) < 1e-5
    assert os.path.getsize(path) > 25_000_000
    calls = []
    real = ortbackend.build_model
    monkeypatch.setattr("unetvocalsep.fast.ortbackend.build_model",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    # a second network loads the file: no build
    assert np.max(np.abs(OnnxNetwork(params, threads=1, cache=True)(x) - ref)) < 1e-5
    assert calls == []
    # a damaged file is rebuilt (and rewritten), never used
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert np.max(np.abs(OnnxNetwork(params, threads=1, cache=True)(x) - ref)) < 1e-5
    assert calls == [1] and os.path.getsize(path) > 25_000_000
    # other weights, another file; caching off writes nothing
    other = dict(params, **{"conv1/b": params["conv1/b"] + 1})
    assert graph_cache_path(other) != path
    monkeypatch.setenv("UNETVOCALSEP_ONNX_CACHE", "0")
    assert graph_cache_path(params) is None


def test_fresh_separation_from_the_cache_does_not_import_onnx(toy_song, tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    code = ("import sys\nfrom unetvocalsep.separate import main\n"
            "rc = main([sys.argv[1], '-o', sys.argv[2], '--no-progress', '--overwrite'])\n"
            "print('onnx' in sys.modules, 'onnxruntime' in sys.modules, rc)\n")
    runs = [subprocess.run([sys.executable, "-c", code, toy_song[0], str(tmp_path / "o")],
                           capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout.split()[-3:] == ["True", "True", "0"]    # built and cached
    assert runs[1].stdout.split()[-3:] == ["False", "True", "0"]   # loaded from the cache
