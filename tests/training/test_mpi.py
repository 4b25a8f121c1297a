"""Data-parallel training with ChainerMN: two MPI processes on the CPU.

``mpiexec -n 2 python -m unetvocalsep.train ... --communicator naive`` runs the
real command line; a small wrapper (written to the temporary folder) calls the
same ``main`` and afterwards saves each rank's model, so the test can check
that the processes end with the same parameters and BatchNorm statistics.
Skipped when mpiexec or mpi4py is missing (install openmpi-bin libopenmpi-dev
and ``pip install 'unetvocalsep[mpi]'``).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # tests/
ROOT = os.path.dirname(HERE)

MPIEXEC = shutil.which("mpiexec")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None

WRAPPER = r'''
import sys

import unetvocalsep.train as CLI

seen = {}
real_train = CLI.train


def recording_train(*args, **kwargs):
    trainer = real_train(*args, **kwargs)
    seen["trainer"], seen["comm"] = trainer, kwargs["comm"]
    return trainer


CLI.train = recording_train
status = CLI.main(sys.argv[2:])
if status == 0:
    import chainer

    unet = seen["trainer"].updater.get_optimizer("main").target.unet
    chainer.serializers.save_npz(f"{sys.argv[1]}/rank{seen['comm'].rank}.npz", unet)
    with open(f"{sys.argv[1]}/size{seen['comm'].rank}", "w") as f:
        f.write(str(seen["comm"].size))
sys.exit(status)
'''


def make_cache(folder, n_tracks=3, seconds=4.5):
    """Tracks whose vocals (tones) are easy to tell from the accompaniment (noise)."""
    from unetvocalsep.training.cache import make_example, save_example

    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    for k in range(n_tracks):
        rng = np.random.default_rng(k)
        gate = np.sin(2 * np.pi * (0.7 + 0.2 * k) * t) > 0
        vocals = 0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t) * gate
        acc = 0.05 * rng.standard_normal(t.size)
        save_example(str(folder), f"track{k}", make_example(vocals + acc, vocals, sr))
    return str(folder)


def run_two_processes(tmp_path, out, args):
    """``mpiexec -n 2`` of the train command line (through WRAPPER) into ``out``, naive communicator.

    Returns the finished ``subprocess.CompletedProcess``; fails the test if it exited non-zero.
    """
    out.mkdir()
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(WRAPPER)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-n", "2",
           sys.executable, str(wrapper), str(out)] + list(args) + [
           "-o", str(out), "--communicator", "naive", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.skipif(MPIEXEC is None or not HAVE_MPI4PY, reason="needs mpiexec and mpi4py")
def test_two_process_naive_training(tmp_path):
    cache = make_cache(tmp_path / "cache")
    out = tmp_path / "out"
    proc = run_two_processes(tmp_path, out, [
        cache, "-i", "12", "-b", "2", "--log-interval", "3", "--snapshot-interval", "6",
        "--val-fraction", "0.34"])

    assert (out / "size0").read_text() == "2" and (out / "size1").read_text() == "2"
    a, b = np.load(out / "rank0.npz"), np.load(out / "rank1.npz")
    assert sorted(a.files) == sorted(b.files) and "conv1/W" in a.files
    for key in a.files:
        if a[key].dtype.kind == "f":
            # parameters by the multi-node optimizer, BN statistics by AllreducePersistent
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # the parameters did train (gamma starts at 1)
    assert not np.allclose(a["norm1/gamma"], 1.0)

    # rank 0 alone wrote the log, the model and the snapshots
    log = json.loads((out / "log").read_text())
    assert [e["iteration"] for e in log] == [3, 6, 9, 12]
    losses = [e["main/loss"] for e in log]
    assert losses[-1] < losses[0], losses
    assert any("validation/main/loss" in e for e in log)
    assert (out / "unet.npz").is_file() and (out / "unet.json").is_file()
    cfg = json.loads((out / "unet.json").read_text())
    assert cfg["processes"] == 2 and cfg["iterations"] == 12 and cfg["batchsize"] == 2
    assert sorted(p.name for p in out.glob("snapshot_iter_*")) == ["snapshot_iter_12",
                                                                  "snapshot_iter_6"]
    assert proc.stdout.count("model written to") == 1


@pytest.mark.skipif(MPIEXEC is None or not HAVE_MPI4PY, reason="needs mpiexec and mpi4py")
def test_two_process_training_with_validation_sets_and_average(tmp_path):
    # issue 26: per-set validation losses, data weights and the moving average under ChainerMN
    train_cache = make_cache(tmp_path / "cache")
    more = make_cache(tmp_path / "more", n_tracks=2)
    val_a = make_cache(tmp_path / "val_a", n_tracks=2)
    val_b = make_cache(tmp_path / "val_b", n_tracks=2, seconds=9.0)
    out = tmp_path / "out"
    proc = run_two_processes(tmp_path, out, [
        train_cache, more, "--weights", "1", "2", "--validation", val_a, val_b, "--ema", "0.9",
        "-i", "4", "-b", "2", "--log-interval", "1", "--snapshot-interval", "4"])
    log = json.loads((out / "log").read_text())
    last = log[-1]
    assert {"validation/val_a/main/loss", "validation/val_b/main/loss",
            "validation/main/loss"} <= set(last)
    lo, hi = sorted([last["validation/val_a/main/loss"], last["validation/val_b/main/loss"]])
    assert lo <= last["validation/main/loss"] <= hi
    cfg = json.loads((out / "unet_ema.json").read_text())
    assert cfg["ema_decay"] == 0.9 and cfg["processes"] == 2 and cfg["data_weights"] == [1.0, 2.0]
    assert proc.stdout.count("model written to") == 1


def test_gpu_communicator_without_gpu_is_one_line(tmp_path):
    import chainer

    from unetvocalsep import _compat  # noqa: F401

    if chainer.backends.cuda.available:
        pytest.skip("a GPU is present")
    cache = make_cache(tmp_path / "cache", n_tracks=1)
    proc = subprocess.run(
        [sys.executable, "-m", "unetvocalsep.train", cache, "-o", str(tmp_path / "o"),
         "--communicator", "pure_nccl", "-i", "1", "-b", "1", "--no-progress"],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pure_nccl" in lines[0] and "naive" in lines[0], proc.stderr


def test_communicator_choices_in_help():
    from unetvocalsep.train import get_parser
    from unetvocalsep.training.train import COMMUNICATORS

    args = get_parser().parse_args(["cache", "--communicator", "naive"])
    assert args.communicator == "naive"
    assert set(COMMUNICATORS) >= {"naive", "flat", "pure_nccl"}
    from unetvocalsep.errors import UserError

    with pytest.raises(UserError, match="invalid choice"):   # one line, exit 1, via run_cli
        get_parser().parse_args(["cache", "--communicator", "bogus"])


@pytest.mark.parametrize("spec,gpu", [(-1, False), ("-1", False), (None, False), ("cpu", False),
                                      ("@numpy", False), (0, True), ("1", True),
                                      ("@cupy:0", True), ("cuda:2", True)])
def test_wants_gpu(spec, gpu):
    from unetvocalsep.training.train import wants_gpu

    assert wants_gpu(spec) is gpu
