"""Benchmark: CPU training patches/s of this tree against an earlier revision's fastconv.

Issue 17 asks for >= 1.4x the training throughput of the fastconv kernels as
they were before it (revision ``a4374d0``), at batch 16 and 64, side by side.
This script extracts that revision with ``git archive`` into a temporary
folder and runs :func:`bench_network.bench_training` (``UNetTrainmodel`` +
Adam, 128-frame patches, fast path on) in fresh processes, alternating
between the old tree and this one, ``--rounds`` times; each number is the
median of the rounds' medians.  Each process measures exactly what that tree's
training does, so the new tree includes what ``unetvocalsep.train`` sets up
for CPU training (the allocator setting of ``unetvocalsep.fast.allocator``).

Usage::

    python benchmarks/bench_training.py [--rev a4374d0] [--rounds 2] [--reps 3] [--no-write]

Pause other jobs first: a second process on the 2 cores halves both numbers.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

#: fastconv as it was before issue 17's training work.
BASELINE_REV = "a4374d0"

_CODE = ("import sys; sys.path.insert(0, 'benchmarks'); import bench_network as b; "
         "print(b.bench_training(True, %d, reps=%d))")


def measure(tree, batch, reps):
    """Training patches/s of the source tree ``tree`` at ``batch``, in a fresh process.

    Parameters
    ----------
    tree : str
        A folder holding ``unetvocalsep/`` and ``benchmarks/bench_network.py``.
    batch : int
    reps : int
        Timed steps after one warm-up step.

    Returns
    -------
    float
        Patches per second (batch / median step time).
    """
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", _CODE % (batch, reps)], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def extract(rev, dest):
    """Write revision ``rev`` of this repository into the folder ``dest``.

    Returns
    -------
    str
        ``dest``.
    """
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return dest


def compare(rev=BASELINE_REV, batches=(16, 64), rounds=2, reps=3):
    """Patches/s of revision ``rev`` and of this tree, alternating.

    Returns
    -------
    dict
        ``{batch: (old, new)}``, medians over ``rounds``.
    """
    runs = {b: ([], []) for b in batches}
    with tempfile.TemporaryDirectory() as tmp:
        old = extract(rev, tmp)
        for _ in range(rounds):
            for b in batches:
                r = reps if b <= 16 else max(2, reps - 1)
                runs[b][0].append(measure(old, b, r))
                runs[b][1].append(measure(ROOT, b, r))
    return {b: (statistics.median(o), statistics.median(n)) for b, (o, n) in runs.items()}


def table(result, rev=BASELINE_REV, target=1.4):
    """Markdown rows for :func:`compare`'s result."""
    lines = [f"| training (CPU, fast path) | fastconv at {rev} | this tree | speed-up | "
             f">= {target}x |", "|---|---|---|---|---|"]
    for b, (o, n) in sorted(result.items()):
        lines.append(f"| patches/s, batch {b} | {o:.2f} | {n:.2f} | **{n / o:.2f}x** | "
                     f"{'yes' if n / o >= target else 'no'} |")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rev", default=BASELINE_REV)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    text = "\n".join(table(compare(args.rev, rounds=args.rounds, reps=args.reps), args.rev))
    print(text)
    if not args.no_write:
        from results import append_section
        append_section("CPU training against the earlier fastconv (benchmarks/bench_training.py)",
                       text)


if __name__ == "__main__":
    main()
