"""unetvocalsep.curves: the stopping rule's trend test on chainer logs."""
import json

import numpy as np
import pytest

from unetvocalsep import curves as curves_cli
from unetvocalsep.training import curves
from unetvocalsep.errors import UserError
from hardening import cli, one_line_error, song  # noqa: F401  (fixtures and helpers)


def _run(tmp_path, name, batchsize, points, iterations, processes=None):
    """A train output folder: log with validation every 100 iterations, unet.json."""
    d = tmp_path / name
    d.mkdir()
    log = []
    for it, v in points:
        log.append({"iteration": it - 50, "main/loss": 0.01})   # between two evaluations
        log.append({"iteration": it, "main/loss": 0.01, "validation/main/loss": v})
    (d / "log").write_text(json.dumps(log))
    cfg = {"batchsize": batchsize, "iterations": iterations}
    if processes is not None:
        cfg["processes"] = processes
    (d / "unet.json").write_text(json.dumps(cfg))
    return str(d)


def test_plateau_tells_a_falling_line_from_noise():
    rng = np.random.default_rng(0)
    x = np.arange(100, 3001, 100, dtype=float)
    noise = 3e-6 * rng.standard_normal(x.size)
    flat = curves.plateau(x, 1e-3 + noise)
    assert not flat["improving"] and abs(flat["t"]) < 2
    falling = curves.plateau(x, 1e-3 - 3e-8 * x + noise)   # about -3 % over the last third
    assert falling["improving"] and falling["t"] < -2
    assert falling["change"] == pytest.approx(-3e-8 * 1000 / falling["mean"], rel=0.3)
    rising = curves.plateau(x, 1e-3 + 3e-8 * x + noise)
    assert not rising["improving"] and rising["t"] > 2


def test_plateau_judges_only_the_last_part_of_the_run():
    x = np.arange(0, 31, dtype=float)
    y = np.where(x < 20, 1.0 - 0.01 * x, 0.8 + 1e-4 * np.cos(x))   # falls, then flat
    res = curves.plateau(x, y)
    assert res["start"] == pytest.approx(20.0) and res["points"] == 11
    assert not res["improving"]
    assert curves.plateau(x, y, fraction=0.9)["improving"]
    # the run started at 15: its last third begins at 25
    assert curves.plateau(x, y, origin=15)["start"] == pytest.approx(25.0)
    with pytest.raises(ValueError, match="need 3"):
        curves.plateau(x[:3], y[:3], fraction=0.2)


def test_stage_points_puts_consecutive_stages_on_one_crop_axis(tmp_path):
    a = _run(tmp_path, "a", 16, [(100, 3.0), (200, 2.0)], 200)
    b = _run(tmp_path, "b", 64, [(100, 1.5), (200, 1.0)], 250)
    c = _run(tmp_path, "c", 64, [(100, 0.5)], 100)
    x, y = curves.stage_points([a, b, c], crops_before=1000)
    np.testing.assert_array_equal(x, [2600, 4200, 10600, 17000, 26600])
    np.testing.assert_array_equal(y, [3.0, 2.0, 1.5, 1.0, 0.5])


def test_stage_points_counts_every_process_of_a_distributed_run(tmp_path):
    # ChainerMN: --batchsize is per process, so 2 x 32 crops per update
    a = _run(tmp_path, "a", 64, [(100, 2.0)], 100, processes=1)
    b = _run(tmp_path, "b", 32, [(100, 1.0), (200, 0.5)], 200, processes=2)
    x, _ = curves.stage_points([a, b])
    np.testing.assert_array_equal(x, [6400, 12800, 19200])


def test_read_log_and_stage_points_refuse_what_is_not_a_log(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        curves.read_log(str(tmp_path / "missing"))
    bad = tmp_path / "bad"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="not JSON"):
        curves.read_log(str(bad))
    bad.write_text('{"iteration": 1}')
    with pytest.raises(UserError, match="not a list"):
        curves.read_log(str(bad))
    bad.write_text('[{"iteration": 1, "main/loss": 1.0}]')
    with pytest.raises(UserError, match="no 'validation/main/loss'"):
        curves.read_log(str(bad))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "log").write_text('[{"iteration": 1, "validation/main/loss": 1.0}]')
    with pytest.raises(UserError, match="no unet.json"):
        curves.stage_points([str(tmp_path / "run")])


def test_cli_prints_the_verdict_and_errors_in_one_line(tmp_path, capsys):
    pts = [(i, 1e-3 * (1 + 0.01 * np.cos(i))) for i in range(100, 3001, 100)]
    run = _run(tmp_path, "s", 64, pts, 3000)
    assert curves_cli.main([run, "--crops-before", "256000"]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("448,000 crops; stopped improving: 24 points from crop 298,667")
    assert cap.err == ""                          # the last third lies inside the run given
    # the last 80 % would reach into the 256,000 crops of stages not given: said, not hidden
    assert curves_cli.main([run, "--crops-before", "256000", "--fraction", "0.8"]) == 0
    cap = capsys.readouterr()
    assert "30 points from crop 89,600" in cap.out
    assert "before the runs given (crop 256,000); only their 30 points" in cap.err
    falling = _run(tmp_path, "f", 64, [(i, 1e-3 - 1e-8 * i) for i in range(100, 3001, 100)], 3000)
    assert curves_cli.main([falling]) == 0
    assert "still improving" in capsys.readouterr().out
    assert curves_cli.main([str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read the training log" in err[0]


@pytest.mark.parametrize("entry", [["-m", "unetvocalsep.curves"], ["-m", "unetvocalsep", "curves"]])
def test_python_m_entry_points(tmp_path, entry):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, *entry, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    # the prefix names what was typed (issue 29)
    prefix = "unetvocalsep curves" if entry[-1] == "curves" else "unetvocalsep.curves"
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"{prefix}: error: ")


# Issue 28, defect 9: song == instrumental; NaN losses taken as a verdict
def test_09_nan_losses_give_no_verdict(tmp_path):
    import json

    from unetvocalsep.training.curves import plateau

    x = np.arange(1, 31) * 100.0
    y = np.linspace(1.0, 0.5, 30)
    y[25] = np.nan
    with pytest.raises(ValueError, match="no verdict"):
        plateau(x, y)
    run = tmp_path / "run"
    run.mkdir()
    log = [{"iteration": int(i), "validation/main/loss": float(v)} for i, v in zip(x, y)]
    (run / "log").write_text(json.dumps(log))      # NaN is written as NaN, as chainer does
    (run / "unet.json").write_text(json.dumps({"batchsize": 2, "iterations": 3000}))
    line = one_line_error(cli("curves", run), "no verdict")
    assert "stopped improving" not in line
