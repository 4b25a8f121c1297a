"""Issue 26's milestone scripts: write_anneal_milestone.py and ship_singing_model.py, in a tmp dir."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import REPO_ROOT, load_script
from unetvocalsep.model_io import load_model, save_model
from unetvocalsep.network import UNet


def _model(path, cfg, seed=0):
    np.random.seed(seed)
    unet = UNet()
    save_model(path, unet, cfg)
    return unet


def _json(path):
    with open(path) as f:
        return json.load(f)


def _run(folder, seed, **cfg):
    os.makedirs(folder)
    base = {"seed": 27, "processes": 2, "batchsize": 32, "ema_decay": 0.999}
    return _model(os.path.join(folder, "unet_ema.npz"), dict(base, **cfg), seed)


def test_anneal_milestone_counts_the_schedule_across_runs(tmp_path, capsys):
    ms = str(tmp_path / "milestones")
    os.makedirs(ms)
    with open(os.path.join(ms, "issue26-stage1.json"), "w") as f:
        json.dump({"iterations": 11000, "training_seconds": 1000.0, "sr": 16000}, f)
    s = load_script("write_anneal_milestone.py")
    # the first run begins the schedule (alpha 1e-3)
    unet = _run(str(tmp_path / "a"), 1, adam_alpha=1e-3, iterations=925, training_seconds=500.0)
    assert s["main"]([str(tmp_path / "a"), "--milestones", ms]) == 0
    got = _json(os.path.join(ms, "issue26-anneal.json"))
    assert got["anneal_iterations_done"] == 925 and got["iterations"] == 11925
    assert got["alpha_now"] == pytest.approx(1e-3 - (1e-3 - 1e-5) * 925 / 4625)
    assert got["training_seconds"] == pytest.approx(1500.0) and got["sr"] == 16000
    saved, cfg = load_model(os.path.join(ms, "issue26-anneal.npz"))
    assert cfg["storage_dtype"] == "float16"
    np.testing.assert_allclose(saved.conv2.W.array, unet.conv2.W.array, rtol=1e-3, atol=1e-4)
    # a run from the milestone, its starting alpha only in words (runs before adam_alpha)
    alpha = got["alpha_now"]
    _run(str(tmp_path / "b"), 2, iterations=3700, training_seconds=200.0,
         optimizer=f"Adam (alpha {alpha!r} linearly to 1e-05 over 3,700 iterations)")
    assert s["main"]([str(tmp_path / "b"), "--milestones", ms]) == 0
    got = _json(os.path.join(ms, "issue26-anneal.json"))
    assert got["anneal_iterations_done"] == 4625 and got["iterations"] == 15625
    assert got["alpha_now"] == pytest.approx(1e-5)
    assert got["training_seconds"] == pytest.approx(1700.0)
    assert "1,000,000 crops" in got["note"]
    # a run that started from another alpha is refused and the milestone kept
    _run(str(tmp_path / "c"), 3, adam_alpha=5e-4, iterations=10, training_seconds=1.0)
    with pytest.raises(SystemExit) as e:
        s["main"]([str(tmp_path / "c"), "--milestones", ms])
    assert "milestone is at" in str(e.value)
    assert _json(os.path.join(ms, "issue26-anneal.json"))["iterations"] == 15625


def test_ship_singing_model_writes_settings_stages_and_figures(tmp_path, capsys):
    models = str(tmp_path / "models")
    os.makedirs(models)
    shutil.copy(os.path.join(REPO_ROOT, "unetvocalsep", "models", "free.json"), models)
    free = _json(os.path.join(models, "free.json"))
    milestone = str(tmp_path / "m.npz")
    unet = _model(milestone, {"iterations": 100, "training_seconds": 12.34, "sr": 16000,
                              "ema_decay": 0.999, "not_kept": 1}, seed=4)
    figures = str(tmp_path / "figs.json")
    with open(figures, "w") as f:
        json.dump({"musdb_test_whole_clip_sdr_db": 4.47, "leakage_db": -31.66}, f)
    s = load_script("ship_singing_model.py")
    assert s["main"]([milestone, figures, "--models-dir", models]) == 0
    cfg = _json(os.path.join(models, "default.json"))
    assert cfg["total_iterations"] == free["total_iterations"] + 100
    assert cfg["total_crops"] == free["total_crops"] + 6400
    assert cfg["stages"][:-1] == free["stages"] and "100 iterations" in cfg["stages"][-1]
    assert cfg["held_out_figures"] == {"musdb_test_whole_clip_sdr_db": 4.47, "leakage_db": -31.66}
    assert cfg["training_seconds"] == 12.3 and "not_kept" not in cfg
    assert "non-commercial" in cfg["licence"] and "m.npz" in cfg["exported_from"]
    shipped, loaded = load_model(os.path.join(models, "default.npz"))
    assert loaded["storage_dtype"] == "float16"
    np.testing.assert_allclose(shipped.deconv3.W.array, unet.deconv3.W.array, rtol=1e-3, atol=1e-4)
