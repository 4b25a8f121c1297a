"""Check: a short training run gives the same loss curve with this tree's CPU kernels.

Trains the same model from the same start, with the same crops and dropout
masks (same ``--seed``), three times in fresh processes:

* ``old``: the fastconv of an earlier revision (default ``a4374d0``, before
  issue 17's training changes), extracted with ``git archive``;
* ``new``: this tree;
* ``plain``: the earlier revision with ``UNETVOCALSEP_FAST_PATH=0`` (chainer's
  own links), whose distance from ``old`` is the float-rounding noise the
  comparison is judged against.

It prints the training loss at each log step and the validation loss of the
three runs, and the largest relative difference new-vs-old next to
plain-vs-old.  Each run is ``--iteration`` steps at ``--batchsize`` (200 at
16 take 3-10 minutes each here).

Usage::

    python benchmarks/training_curve.py CACHE VALIDATION_CACHE [--init-model NPZ]
        [--iteration 200] [--batchsize 16] [--rev a4374d0] [--work DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_training import BASELINE_REV, extract  # noqa: E402


def run(tree, out, data, validation, args, plain=False):
    """One training run in ``tree``; returns its chainer log (list of dict)."""
    env = dict(os.environ, PYTHONPATH=tree)
    if plain:
        env["UNETVOCALSEP_FAST_PATH"] = "0"
    cmd = [sys.executable, "-m", "unetvocalsep.train", data, "--validation", validation,
           "-o", out, "--batchsize", str(args.batchsize), "--iteration", str(args.iteration),
           "--seed", "0", "--log-interval", str(args.log_interval),
           "--snapshot-interval", str(10 * args.iteration), "--no-progress", "--overwrite"]
    if args.init_model:
        cmd += ["--init-model", os.path.abspath(args.init_model)]
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
    with open(os.path.join(out, "log")) as f:
        return json.load(f)


def worst(a, b, key):
    pairs = [(x[key], y[key]) for x, y in zip(a, b) if key in x and key in y]
    return max(abs(x - y) / abs(y) for x, y in pairs) if pairs else float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("validation")
    p.add_argument("--init-model", default=None)
    p.add_argument("--iteration", type=int, default=200)
    p.add_argument("--batchsize", type=int, default=16)
    p.add_argument("--log-interval", type=int, default=20)
    p.add_argument("--rev", default=BASELINE_REV)
    p.add_argument("--work", default=None, help="folder for the three runs (default: temporary)")
    args = p.parse_args(argv)
    data, validation = os.path.abspath(args.data), os.path.abspath(args.validation)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or tmp
        old_tree = extract(args.rev, tempfile.mkdtemp(dir=tmp))
        logs = {name: run(tree, os.path.join(work, name), data, validation, args, plain)
                for name, tree, plain in (("old", old_tree, False), ("new", ROOT, False),
                                          ("plain", old_tree, True))}
    print("| iteration | old | new | plain |\n|---|---|---|---|")
    for rows in zip(*logs.values()):
        cells = " | ".join(f"{r['main/loss']:.6f}" + (f" (val {r['validation/main/loss']:.6f})"
                                                     if "validation/main/loss" in r else "")
                           for r in rows)
        print(f"| {rows[0]['iteration']} | {cells} |")
    for key in ("main/loss", "validation/main/loss"):
        print(f"largest relative difference in {key}: new vs old "
              f"{worst(logs['new'], logs['old'], key):.3f}, plain vs old "
              f"{worst(logs['plain'], logs['old'], key):.3f}")


if __name__ == "__main__":
    main()
