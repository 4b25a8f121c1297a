"""Model files: hostile npz files, weight dtypes and settings (model_io, npzfile)."""
import os
import subprocess

import numpy as np
import pytest
from hardening import (PY, evil_copy, model_copy, small_cache, cli,  # noqa: F401  (fixtures and helpers)
                       one_line_error, song)

from unetvocalsep.errors import ModelError


# Issue 13, defect 1: a model file can run code
def test_01_pickled_object_in_model_never_runs(random_model, song, tmp_path):
    from unetvocalsep.model_io import load_model, load_params

    marker = tmp_path / "pwned"
    evil = evil_copy(random_model, tmp_path / "evil.npz", marker)
    for load in (load_model, load_params):
        with pytest.raises(ModelError, match="pickled Python object"):
            load(evil)
    # every command-line path that reads a model: --device 0, the chainer CPU path
    one_line_error(cli("separate", song, "-o", tmp_path / "o", "--model", evil, "--device", "0"),
                   "pickled")
    env = dict(os.environ, UNETVOCALSEP_FAST_PATH="0")
    one_line_error(cli("separate", song, "-o", tmp_path / "o", "--model", evil, env=env), "pickled")
    assert not marker.exists()
    assert not (tmp_path / "o").exists()


# Issue 13, defect 1: a model file can run code
def test_01_pickle_in_init_model_and_snapshot(random_model, tmp_path):
    from unetvocalsep.npzfile import read_npz_safely

    cache = tmp_path / "cache"
    small_cache(cache)
    marker = tmp_path / "pwned"
    evil = evil_copy(random_model, tmp_path / "evil.npz", marker)
    one_line_error(cli("train", cache, "-o", tmp_path / "r1", "-i", "1", "-b", "2", "--no-progress",
                       "--init-model", evil), "pickled")
    # a real snapshot, then the same with a pickled object added
    proc = cli("train", cache, "-o", tmp_path / "r2", "-i", "2", "-b", "2", "--no-progress",
               "--snapshot-interval", "2", "--log-interval", "1")
    assert proc.returncode == 0, proc.stderr
    snap = tmp_path / "r2" / "snapshot_iter_2"
    assert snap.exists()
    assert read_npz_safely(str(snap))   # a genuine snapshot reads without pickle
    evil_snap = evil_copy(str(snap), tmp_path / "evil_snapshot", marker,
                           key="updater/iterator:main/evil")
    one_line_error(cli("train", cache, "-o", tmp_path / "r3", "-i", "3", "-b", "2",
                       "--no-progress", "--resume", evil_snap), "pickled")
    assert not marker.exists()


# Issue 13, defect 1: a model file can run code
def test_01_none_as_chainer_writes_it_is_accepted(random_model, tmp_path):
    from unetvocalsep.npzfile import read_npz_safely

    with np.load(random_model) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["some/state"] = np.asarray(None)   # what chainer's serializer writes for None
    path = tmp_path / "with_none.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    out = read_npz_safely(str(path))
    assert out["some/state"][()] is None and out["conv1/W"].shape == (16, 1, 4, 4)


# Issue 13, defect 20/21: model dtypes and settings
def test_20_integer_weights_are_refused(random_model, tmp_path):
    from unetvocalsep.model_io import load_model, load_params

    def to_int(arrays):
        return {k: (v * 100).astype(np.int32) if k.endswith("/W") else v for k, v in arrays.items()}
    path = model_copy(random_model, tmp_path / "int.npz", to_int)
    for load in (load_params, load_model):
        with pytest.raises(ModelError, match="int32 weights"):
            load(path)


# Issue 13, defect 20/21: model dtypes and settings
@pytest.mark.parametrize("cfg, needle", [({"target": ["inst"]}, "'target' must be a JSON string"),
                                         ({"target": "drums"}, "unknown target"),
                                         ({"sr": "16000"}, "'sr' must be a JSON integer"),
                                         ({"hop": True}, "'hop' must be a JSON integer")])
def test_21_model_settings_are_validated(random_model, tmp_path, cfg, needle):
    from unetvocalsep.model_io import load_params

    path = model_copy(random_model, tmp_path / "m.npz", cfg=cfg)
    with pytest.raises(ModelError, match=needle):
        load_params(path)


# Issue 28, defect 11: hostile model or settings files
def test_11_model_from_a_device_or_fifo_is_refused_at_once(random_model, song, tmp_path):
    fifo = tmp_path / "m.npz"
    os.mkfifo(fifo)
    for model in ("/dev/zero", "/dev/urandom", fifo):
        one_line_error(cli("separate", "--model", model, song, "-o", tmp_path, timeout=60),
                       "not a regular file")
    # the settings JSON next to a good model, as a FIFO and as a huge file
    d = tmp_path / "m2"
    d.mkdir()
    (d / "unet.npz").write_bytes(open(random_model, "rb").read())
    os.mkfifo(d / "unet.json")
    from unetvocalsep.errors import ModelError
    from unetvocalsep.model_io import load_params

    with pytest.raises(ModelError, match="not a regular file"):
        load_params(str(d / "unet.npz"))
    os.remove(d / "unet.json")
    with open(d / "unet.json", "wb") as f:
        f.truncate(64 * 2 ** 20)                  # sparse: 64 MiB of zeros
    with pytest.raises(ModelError, match="MiB"):
        load_params(str(d / "unet.npz"))


# Issue 28, defect 11: hostile model or settings files
def test_11_zip_bomb_is_refused_before_inflating(random_model, tmp_path):
    import resource

    from unetvocalsep.errors import ModelError
    from unetvocalsep.model_io import load_params

    bomb = tmp_path / "bomb.npz"
    # made in another process, so that this one's peak memory stays where it was
    subprocess.run([PY, "-c", "import numpy as np, sys\n"
                    "z = np.load(sys.argv[1]); a = {k: z[k] for k in z.files}\n"
                    "a['deconv1/W'] = np.zeros((64, 2 ** 20), np.float64)  # 512 MiB\n"
                    "np.savez_compressed(sys.argv[2], **a)\n", random_model, str(bomb)],
                   check=True)
    assert bomb.stat().st_size < os.path.getsize(random_model) + 4 * 2 ** 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelError, match="refusing to inflate"):
        load_params(str(bomb))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before   # KiB
    assert grown < 100 * 1024


# Issue 28, defect 11: hostile model or settings files
def test_11_13_nested_settings_json(random_model, song, tmp_path):
    d = tmp_path / "nest"
    d.mkdir()
    (d / "unet.npz").write_bytes(open(random_model, "rb").read())
    (d / "unet.json").write_text("[" * 100000 + "]" * 100000)
    one_line_error(cli("separate", "--model", d / "unet.npz", song, "-o", tmp_path),
                   "nested too deeply")
    run = tmp_path / "run"
    run.mkdir()
    (run / "log").write_text("[" * 100000 + "]" * 100000)
    one_line_error(cli("curves", run), "not a chainer LogReport log")


def test_describe_model_names_bundled_models_paths_and_missing_licences(tmp_path):
    import shutil

    from unetvocalsep.model_io import bundled_models, describe_model, load_model

    for name in bundled_models():
        _, cfg = load_model(name)
        info = describe_model(name, cfg)
        assert info["name"] == name and info["bundled"] and info["licence"] == cfg["licence"]
        assert info["summary"] == f"{name} ({info['licence_short']})"
        assert 0 < len(info["licence_short"]) <= len(info["licence"])
    _, cfg = load_model(None)
    assert describe_model(None, cfg)["name"] == "default"
    assert describe_model(None, cfg)["licence_short"] == "research and non-commercial use only"
    # a copy elsewhere is a path, not the bundled model, but keeps the terms of its json
    copy = tmp_path / "mine.npz"
    shutil.copy(bundled_models()["free"], copy)
    shutil.copy(bundled_models()["free"][:-4] + ".json", tmp_path / "mine.json")
    _, cfg = load_model(str(copy))
    info = describe_model(str(copy), cfg)
    assert info["name"] == str(copy) and not info["bundled"]
    assert info["licence_short"] == "GPL-3.0-or-later, to be safe"
    info = describe_model(str(copy), {"iterations": 5, "licence": "  "})
    assert info["licence"].startswith("not recorded") and info["iterations"] == 5
    info = describe_model(object(), {})
    assert info["name"] == "a object given in Python" and info["iterations"] is None
