"""Averaged weights (issue 26): the mean of saved models and the moving average kept in training."""
import json
import os

import numpy as np
import pytest

from unetvocalsep.errors import ModelError, UserError
from unetvocalsep.model_io import load_model, save_model
from unetvocalsep.network import UNet
from unetvocalsep.train import main as train_main
from unetvocalsep.training.averaging import WeightAverage, average_models, ema_decay_at


def _saved(tmp_path, name, seed):
    import chainer

    np.random.seed(seed)
    unet = UNet()
    with chainer.using_config("train", True):   # BatchNorm statistics move too
        unet(np.random.rand(2, 1, 512, 128).astype(np.float32))
    path = os.path.join(str(tmp_path), name)
    save_model(path, unet, {"seed": seed})
    return path, unet


def test_average_models_is_the_elementwise_mean(tmp_path):
    paths, nets = zip(*[_saved(tmp_path, f"m{i}.npz", i) for i in range(3)])
    avg, cfg = average_models(paths)
    for name in ("conv1/W", "deconv6/b", "norm3/gamma"):
        want = np.mean([dict(n.namedparams())["/" + name].array for n in nets], axis=0)
        np.testing.assert_allclose(dict(avg.namedparams())["/" + name].array, want, rtol=1e-6, atol=1e-7)
    want_mean = np.mean([n.norm2.avg_mean for n in nets], axis=0)
    np.testing.assert_allclose(avg.norm2.avg_mean, want_mean, rtol=1e-6)
    assert not np.allclose(avg.norm2.avg_mean, nets[0].norm2.avg_mean)
    assert cfg["averaged_from"] == list(paths) and cfg["seed"] == 0


def test_average_models_refuses_one_model_or_another_shape(tmp_path):
    path, _ = _saved(tmp_path, "m.npz", 0)
    with pytest.raises(UserError, match="two models"):
        average_models([path])
    small = UNet()
    small.conv1.W.array = np.zeros((16, 1, 3, 3), np.float32)
    other = os.path.join(str(tmp_path), "other.npz")
    from chainer import serializers
    serializers.save_npz(other, small)
    with pytest.raises(ModelError):
        average_models([path, other])


def test_decay_warms_up_then_holds():
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 90) == pytest.approx(0.91)
    assert ema_decay_at(0.999, 10 ** 6) == 0.999


def test_weight_average_follows_its_formula():
    unet = UNet()
    ema = WeightAverage(unet, 0.5)
    start = unet.conv2.W.array.copy()
    values = []
    for step in range(5):
        unet.conv2.W.array[...] = start + (step + 1)
        ema.update()
        values.append(step + 1)
    want = start.astype(np.float64)
    for t, v in enumerate(values):
        d = ema_decay_at(0.5, t)
        want = d * want + (1 - d) * (start + v)
    np.testing.assert_allclose(ema.average.conv2.W.array, want, rtol=1e-5, atol=1e-5)
    assert ema.updates == 5
    with pytest.raises(UserError):
        WeightAverage(unet, 1.0)


def _caches(root):
    rng = np.random.default_rng(0)
    for d, n in (("a", 2), ("b", 2), ("v1", 1), ("v2", 2)):
        os.makedirs(os.path.join(root, d))
        for i in range(n):
            np.save(os.path.join(root, d, f"{d}{i}.npy"), rng.random((3, 513, 300)).astype(np.float32))
    return [os.path.join(root, d) for d in ("a", "b", "v1", "v2")]


def test_train_with_ema_saves_and_resumes_the_average(tmp_path, capsys):
    a, b, v1, v2 = _caches(str(tmp_path))
    out = str(tmp_path / "run")
    common = [a, b, "-o", out, "-b", "4", "--no-progress", "--snapshot-interval", "2",
              "--ema", "0.9", "--log-interval", "1"]
    assert train_main(common + ["-i", "2"]) == 0
    raw, _ = load_model(os.path.join(out, "unet.npz"))
    ema, cfg = load_model(os.path.join(out, "unet_ema.npz"))
    assert cfg["ema_decay"] == 0.9 and cfg["iterations"] == 2
    assert not np.allclose(raw.conv1.W.array, ema.conv1.W.array)
    snap = np.load(os.path.join(out, "snapshot_iter_2"))
    assert int(snap["extensions/weight_average/updates"]) == 2
    np.testing.assert_allclose(snap["extensions/weight_average/average/conv1/W"], ema.conv1.W.array)
    assert train_main(common + ["-i", "4", "--resume", os.path.join(out, "snapshot_iter_2")]) == 0
    snap = np.load(os.path.join(out, "snapshot_iter_4"))
    assert int(snap["extensions/weight_average/updates"]) == 4
    # a snapshot without the average: one line that says so
    plain = str(tmp_path / "plain")
    assert train_main([a, "-o", plain, "-b", "4", "-i", "2", "--no-progress",
                       "--snapshot-interval", "2"]) == 0
    capsys.readouterr()
    assert train_main([a, "-o", plain, "-b", "4", "-i", "3", "--no-progress", "--ema", "0.9",
                       "--resume", os.path.join(plain, "snapshot_iter_2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without --ema" in err[0]


@pytest.mark.parametrize("argv, needle", [
    (["--ema", "1"], "between 0 and 1"),
    (["--ema", "0"], "between 0 and 1"),
    (["--weights", "1"], "1 --weights for 2 data folders"),
    (["--weights", "1", "-2"], "greater than 0"),
])
def test_train_cli_refuses_bad_weights_and_decays(tmp_path, capsys, argv, needle):
    a, b, _, _ = _caches(str(tmp_path))
    assert train_main([a, b, "-o", str(tmp_path / "o"), "-i", "1"] + argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not os.path.exists(tmp_path / "o" / "unet.npz")


def test_weighted_run_logs_each_validation_set_and_refuses_other_weights(tmp_path, capsys):
    a, b, v1, v2 = _caches(str(tmp_path))
    out = str(tmp_path / "run")
    assert train_main([a, b, "--weights", "1", "3", "--validation", v1, v2, "-o", out, "-b", "4",
                       "-i", "4", "--log-interval", "1", "--snapshot-interval", "4",
                       "--no-progress"]) == 0
    log = json.load(open(os.path.join(out, "log")))
    last = log[-1]
    l1, l2 = last["validation/v1/main/loss"], last["validation/v2/main/loss"]
    # pooled = mean over crops: v1 has 2 crops (300 frames // 128), v2 4
    assert last["validation/main/loss"] == pytest.approx((2 * l1 + 4 * l2) / 6, rel=1e-6)
    assert l1 != l2
    cfg = json.load(open(os.path.join(out, "unet.json")))
    assert cfg["data_weights"] == [1.0, 3.0]
    capsys.readouterr()
    assert train_main([a, b, "-o", out, "-b", "4", "-i", "6", "--no-progress",
                       "--resume", os.path.join(out, "snapshot_iter_4")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--weights" in err[0] and "crops per epoch" in err[0]


def test_average_models_script(tmp_path, capsys):
    from conftest import load_script

    paths = [_saved(tmp_path, f"m{i}.npz", i)[0] for i in range(2)]
    script = load_script("average_models.py")
    out = str(tmp_path / "avg.npz")
    assert script["main"](paths + ["-o", out, "--float16"]) == 0
    unet, cfg = load_model(out)
    want, _ = average_models(paths)
    np.testing.assert_allclose(unet.conv3.W.array, want.conv3.W.array, rtol=1e-2, atol=1e-3)
    assert cfg["storage_dtype"] == "float16" and len(cfg["averaged_from"]) == 2
    capsys.readouterr()
    assert script["main"](paths + ["-o", out]) == 1              # kept without --overwrite
    assert script["main"]([paths[0], "-o", str(tmp_path / "x.npz")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "exists" in err[0] and "two models" in err[1]


def test_validation_by_set_script(tmp_path, capsys):
    # issue 26: the per-set losses of saved models, as train's SetEvaluator logs them
    from conftest import load_script
    from unetvocalsep.training.cache import SpectrogramDataset
    from unetvocalsep.training.validation import validation_loss

    _, _, v1, v2 = _caches(str(tmp_path))
    path, unet = _saved(tmp_path, "m.npz", 0)
    script = load_script("validation_by_set.py")
    capsys.readouterr()
    assert script["main"]([path, "--sets", v1, v2]) == 0
    head, row = capsys.readouterr().out.strip().splitlines()
    assert head == "model | v1 | v2 | pooled"
    got = [float(x) for x in row.split(" | ")[1:]]
    want = [validation_loss(load_model(path)[0], SpectrogramDataset(v, random=False)) * 1e4
            for v in (v1, v2)]
    assert got[:2] == pytest.approx(want, abs=2e-3)
    assert got[2] == pytest.approx((2 * want[0] + 4 * want[1]) / 6, abs=2e-3)
    assert script["main"]([path, "--sets", str(tmp_path / "missing")]) == 1
