"""Run every benchmark in one go (under 10 minutes on the 2-core machine) and print one table.

    python benchmarks/run.py            # prints, and appends to benchmarks/RESULTS.md
    python benchmarks/run.py --no-write

1. float32 GEMM peak of this machine (numpy.matmul, 2048^2);
2. the U-Net alone, alternating in the same run: inference on 1024 frames
   (32.8 s of audio) through chainer's own links ("plain"), chainer with the
   unetvocalsep.fast.fastconv FunctionNodes, and the inference plan separation uses,
   next to the GEMM-bound floor; training patches/s at batch 16 and 64, plain
   vs fastconv, with the achieved GFLOP/s, and this tree's training against the
   fastconv of revision a4374d0 (benchmarks/bench_training.py, fresh processes);
3. end-to-end separation of generated 44.1 kHz stereo files in fresh processes:
   3 minutes (median of 3 with chainer's links, of 5 by default), then 10, 30
   and 60 minutes for the memory curve; wall time, real-time factor, peak RSS
   and the time per stage (decode, resample, STFT, network, inverse STFT,
   encode);
4. batch mode: several different 3-minute songs in one process (model loaded
   once), -j 1 and -j 2;
5. the targets tables of issues 8 and 17, computed from the numbers above.

Medians of several runs; on a noisy machine compare the ratios of one run.
"""
import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_network  # noqa: E402
import bench_training  # noqa: E402
import bench_separate  # noqa: E402
from results import append_section  # noqa: E402

FORWARD_GFLOP = 0.9646   # 482.3 M multiply-adds per 512 x 128 patch


def network_rows(rounds=2, reps=5, train_reps=3):
    """All paths alternating in each round; returns medians.

    Returns
    -------
    infer : dict
        path -> list of seconds for (1, 1, 512, 1024).
    train : dict
        metric -> (plain, fast) medians of patches/s.
    peaks : list of float
        GEMM peak samples, GFLOP/s.
    """
    infer = {p: [] for p in bench_network.INFERENCE_PATHS}
    out = {"train16": ([], []), "train64": ([], [])}
    peaks = [bench_network.gemm_peak_gflops()]
    for _ in range(rounds):
        for path in bench_network.INFERENCE_PATHS:
            infer[path].append(bench_network.bench_inference(path, frames=1024, reps=reps))
        for i, fast in enumerate((False, True)):
            out["train16"][i].append(bench_network.bench_training(fast, 16, reps=train_reps))
            out["train64"][i].append(bench_network.bench_training(fast, 64, reps=max(2, train_reps - 1)))
        peaks.append(bench_network.gemm_peak_gflops())
    train = {k: (statistics.median(p), statistics.median(f)) for k, (p, f) in out.items()}
    return infer, train, peaks


def targets(infer, train, fast_rows, batch_rows, old_train=None):
    """The issue-8 targets, measured in this run."""
    t = {p: statistics.median(v) for p, v in infer.items()}
    tp, tf = train["train64"]
    three = next(r for r in fast_rows if r["minutes"] == 3)
    long_rows = [r for r in fast_rows if r["minutes"] >= 10]
    best_batch = max(batch_rows, key=lambda r: r["rtf"]) if batch_rows else None
    mem = ", ".join(f"{r['maxrss_mb']:.0f} MB at {r['minutes']:g} min" for r in long_rows)
    rows = ["| target | measured | met? |", "|---|---|---|",
            f"| network inference >= 2x plain chainer | {t['plain']:.3f} s -> {t['plan']:.3f} s "
            f"for 1024 frames: **{t['plain'] / t['plan']:.2f}x** | "
            f"{'yes' if t['plain'] / t['plan'] >= 2 else 'no'} |",
            f"| training patches/s at batch 64 >= 2x | {tp:.2f} -> {tf:.2f}: **{tf / tp:.2f}x** | "
            f"{'yes' if tf / tp >= 2 else 'no'} |",
            f"| 3-min stereo 44.1 kHz end to end >= 150x real time | fresh process: "
            f"**{three['rtf']:.0f}x** ({three['wall']:.2f} s)"
            + (f"; batch mode (model loaded once), best: **{best_batch['rtf']:.0f}x** "
               f"({best_batch['per_file']:.2f} s per file, -j {best_batch['jobs']})" if best_batch else "")
            + f" | {'yes' if three['rtf'] >= 150 else 'fresh process: no'}"
            + (f"; batch: {'yes' if best_batch['rtf'] >= 150 else 'no'}" if best_batch else "") + " |"]
    if long_rows:
        worst = max(r["maxrss_mb"] for r in long_rows)
        rows.append(f"| 60-min peak memory < 1 GB, flat in length | {mem} | "
                    f"{'yes' if worst < 1000 else 'no'} |")
    rows += ["", "Targets of issue 17, measured in this run:", "",
             "| target | measured | met? |", "|---|---|---|",
             f"| 3-min stereo song in a fresh process >= 160x | **{three['rtf']:.0f}x** "
             f"({three['wall']:.2f} s) | {'yes' if three['rtf'] >= 160 else 'no'} |"]
    if old_train:
        for b, (o, n) in sorted(old_train.items()):
            rows.append(f"| CPU training >= 1.4x the fastconv of {bench_training.BASELINE_REV}, "
                        f"batch {b} | {o:.2f} -> {n:.2f} patches/s: **{n / o:.2f}x** | "
                        f"{'yes' if n / o >= 1.4 else 'no'} |")
    if best_batch:
        worst_b = max(r["maxrss_mb"] for r in batch_rows)
        rows += [f"| batch mode >= 220x per song | **{best_batch['rtf']:.0f}x** "
                 f"(-j {best_batch['jobs']}) | {'yes' if best_batch['rtf'] >= 220 else 'no'} |",
                 f"| batch-mode peak memory < 1 GB | {worst_b:.0f} MB (worst -j) | "
                 f"{'yes' if worst_b < 1000 else 'no'} |"]
    return "\n".join(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--no-training-baseline", action="store_true",
                   help="skip the side-by-side with the earlier fastconv (bench_training.py)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--model", default=None, help="model for the separation runs (default: bundled)")
    p.add_argument("--batch-files", type=int, default=5,
                   help="songs in the batch-mode measurement, -j 1, 2 and 0 (default 5)")
    args = p.parse_args(argv)

    infer, train, peaks = network_rows(args.rounds)
    old_train = None
    if not args.no_training_baseline:
        try:
            old_train = bench_training.compare(rounds=args.rounds)
        except (OSError, subprocess.CalledProcessError) as exc:   # no git history here
            print(f"training baseline skipped: {exc}", file=sys.stderr)
    peak = statistics.median(peaks)
    lines = [f"float32 GEMM peak: **{peak:.0f} GFLOP/s** (numpy.matmul 2048^2, median of "
             f"{len(peaks)})", ""]
    lines += bench_network.inference_table(infer, 1024, peak)
    if old_train:
        lines += [""] + bench_training.table(old_train)
    lines += ["", "| training (CPU) | plain chainer | fastconv | speed-up |", "|---|---|---|---|"]
    for b in (16, 64):
        tp, tf = train[f"train{b}"]
        lines.append(f"| patches/s, batch {b} | {tp:.2f} ({3 * FORWARD_GFLOP * tp:.0f} GFLOP/s) | "
                     f"{tf:.2f} ({3 * FORWARD_GFLOP * tf:.0f} GFLOP/s) | {tf / tp:.2f}x |")

    env_plain = dict(os.environ, UNETVOCALSEP_FAST_PATH="0")
    plain3 = bench_separate.run([3], reps=3, long_minutes=[], model=args.model, env=env_plain)
    fast = bench_separate.run([3], reps=5, long_minutes=[10, 30, 60], model=args.model)
    batch = (bench_separate.batch(files=args.batch_files, jobs=(1, 2, 0), model=args.model)
             if args.batch_files else [])
    lines += ["", "End-to-end separation, 44.1 kHz stereo wav -> two 16-bit wavs (fresh process each, "
              "Python start and model loading included; stage times overlap, the network runs "
              "in its own thread):", "",
              "plain chainer (UNETVOCALSEP_FAST_PATH=0: chainer's links for the network, same pipeline):",
              "", bench_separate.table(plain3), "", "default (onnxruntime; the graph from the cache):", "",
              bench_separate.table(fast)]
    if batch:
        lines += ["", "Batch mode (`python -m unetvocalsep.separate a.wav b.wav ... -j N`: one "
                  "process, model loaded once; seconds per file exclude the one-off start):", "",
                  bench_separate.batch_table(batch)]
    lines += ["", "Targets of issue 8, measured in this run:", "",
              targets(infer, train, fast, batch, old_train)]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        append_section("Benchmark suite (benchmarks/run.py)", text)


if __name__ == "__main__":
    main()
