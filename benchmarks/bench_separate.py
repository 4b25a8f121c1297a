"""Separation speed and memory on generated 44.1 kHz stereo files.

Each measurement runs ``Separator.separate_file`` in a fresh child process
and reads that child's own peak RSS (``VmHWM``), so model loading,
decoding, the network and encoding are all included.

    python benchmarks/bench_separate.py                 # 3 min x3, 10/30/60 min x1
    python benchmarks/bench_separate.py --minutes 3 --reps 5 --no-long

Prints a table; ``--append`` adds it to benchmarks/RESULTS.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_song(path, minutes, sr=44100, seed=0):
    """Write a ``minutes``-long stereo PCM-16 wav block by block (constant memory).

    Parameters
    ----------
    path : str
    minutes : float
    sr : int
    seed : int
    """
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * sr)
    block = sr * 10
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, n, block):
            m = min(block, n - start)
            t = (start + np.arange(m)) / sr
            f0 = 220 * 2 ** (np.floor(t * 2) % 12 / 12)
            voice = 0.2 * np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
            band = 0.05 * rng.standard_normal(m) + 0.1 * np.sin(2 * np.pi * 55 * t)
            f.write(np.stack([voice + band, 0.9 * voice + 1.1 * band], axis=1).astype(np.float32))


def child(path, out, model):
    """Run one separation (in the child process) and print its timings as JSON."""
    import time

    t0 = time.perf_counter()
    from unetvocalsep.separate import Separator

    sep = Separator(model)
    t_load = time.perf_counter() - t0
    sep.separate_file(path, out, overwrite=True, progress=False)
    total = time.perf_counter() - t0
    print(json.dumps({"load": t_load, "total": total, "stages": sep.timings, "hwm_mb": _vm_hwm_mb()}))


def child_batch(paths, out, model, jobs):
    """Separate several files with one model (the CLI's batch mode) and print JSON."""
    import time

    t0 = time.perf_counter()
    from unetvocalsep.batch import choose_jobs, separate_files
    from unetvocalsep.separate import Separator

    jobs = choose_jobs(jobs, len(paths))   # -j 0: as the CLI chooses

    sep = Separator(model)
    t1 = time.perf_counter()
    failed = separate_files(sep, paths, out, jobs=jobs, overwrite=True, progress=False)
    t2 = time.perf_counter()
    print(json.dumps({"load": t1 - t0, "work": t2 - t1, "failed": failed,
                      "hwm_mb": _vm_hwm_mb()}))


def batch(minutes=3, files=4, jobs=(1, 2), model=None, workdir=None):
    """Batch mode: ``files`` different songs in one process, model loaded once.

    Returns
    -------
    list of dict
        One per ``jobs`` value: per-file seconds (work time / files, model
        load excluded), real-time factor, peak RSS (MB), model load (s).
    """
    workdir = workdir or tempfile.mkdtemp(prefix="bench_batch_")
    paths = []
    for i in range(files):
        path = os.path.join(workdir, f"batch_{i}.wav")
        if not os.path.exists(path):
            make_song(path, minutes, seed=i)
        paths.append(path)
    rows = []
    for j in jobs:
        out = tempfile.mkdtemp(prefix="bench_sep_")
        cmd = [sys.executable, __file__, "--child-batch", str(j), out, *paths]
        if model:
            cmd += ["--model", model]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True)
                         .stdout.strip().splitlines()[-1])
        subprocess.run(["rm", "-rf", out])
        if res["failed"]:
            raise RuntimeError(f"{res['failed']} files failed: {cmd}")
        per = res["work"] / files
        rows.append({"jobs": j, "files": files, "minutes": minutes, "per_file": per,
                     "rtf": minutes * 60 / per, "maxrss_mb": res["hwm_mb"], "load": res["load"]})
    return rows


def batch_table(rows):
    """Markdown table of :func:`batch` rows."""
    lines = ["| files x length | -j | seconds per file | x real time | peak RSS MB | "
             "model load s (once) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['files']} x {r['minutes']} min | {r['jobs']} | {r['per_file']:.2f} | "
                     f"{r['rtf']:.0f} | {r['maxrss_mb']:.0f} | {r['load']:.2f} |")
    return "\n".join(lines)


def _vm_hwm_mb():
    """Peak RSS of this process image (VmHWM).

    ``getrusage``/``wait4`` maxrss is not usable here: Linux carries the
    parent's RSS at fork() into the child's maxrss, so a child of a big
    benchmark process would report the parent's size.
    """
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(path, model, env=None):
    """Separate ``path`` in a child process.

    Returns
    -------
    dict
        ``wall`` (s), ``maxrss_mb``, ``stages`` (s per stage), ``load`` (s).
    """
    out = tempfile.mkdtemp(prefix="bench_sep_")
    cmd = [sys.executable, __file__, "--child", path, out] + (["--model", model] if model else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"child failed: {cmd}")
    res = json.loads(stdout.decode().strip().splitlines()[-1])
    res["maxrss_mb"] = res["hwm_mb"]
    subprocess.run(["rm", "-rf", out])
    return res


def run(minutes_list=(3,), reps=3, long_minutes=(10, 30, 60), model=None, env=None, workdir=None):
    """Measure separation of each length.

    Returns
    -------
    list of dict
        One row per length: minutes, wall (median), rtf, maxrss_mb (max), stages (median).
    """
    workdir = workdir or tempfile.mkdtemp(prefix="bench_songs_")
    rows = []
    plan = [(m, reps) for m in minutes_list] + [(m, 1) for m in long_minutes]
    for minutes, n in plan:
        path = os.path.join(workdir, f"song_{minutes}min.wav")
        if not os.path.exists(path):
            make_song(path, minutes)
        results = [measure(path, model, env) for _ in range(n)]
        wall = statistics.median(r["total"] for r in results)
        stages = {k: statistics.median(r["stages"].get(k, 0.0) for r in results)
                  for k in results[0]["stages"]}
        rows.append({"minutes": minutes, "runs": n, "wall": wall, "rtf": minutes * 60 / wall,
                     "maxrss_mb": max(r["maxrss_mb"] for r in results),
                     "load": statistics.median(r["load"] for r in results), "stages": stages})
        os.remove(path) if minutes >= 30 else None
    return rows


def table(rows):
    """Markdown table of :func:`run` rows."""
    stages = ["decode", "resample", "stft", "network", "istft", "encode"]
    head = ("| length | runs | wall s | x real time | peak RSS MB | model load s | "
            + " | ".join(stages) + " |")
    lines = [head, "|" + "---|" * (6 + len(stages))]
    for r in rows:
        lines.append(f"| {r['minutes']} min | {r['runs']} | {r['wall']:.1f} | {r['rtf']:.0f} | "
                     f"{r['maxrss_mb']:.0f} | {r['load']:.2f} | "
                     + " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in stages) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=2, metavar=("FILE", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--child-batch", nargs="+", metavar="ARG", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=0, metavar="N",
                   help="also separate N different 3-minute songs in one process (-j 1 and 2)")
    p.add_argument("--model", default=None)
    p.add_argument("--minutes", type=float, nargs="+", default=[3])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--long", type=float, nargs="*", default=[10, 30, 60])
    p.add_argument("--no-long", action="store_true")
    p.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], args.model)
    if args.child_batch:
        jobs, out, *paths = args.child_batch
        return child_batch(paths, out, args.model, int(jobs))
    rows = run(args.minutes, args.reps, [] if args.no_long else args.long, args.model)
    text = table(rows)
    if args.batch:
        text += "\n\nBatch mode (one process, model loaded once):\n\n" + batch_table(
            batch(files=args.batch, model=args.model))
    print(text)
    if args.append:
        from results import append_section
        append_section("Separation of 44.1 kHz stereo files (bench_separate.py)", text)


if __name__ == "__main__":
    main()
