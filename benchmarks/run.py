"""Run every benchmark in one go (under 10 minutes on the 2-core machine) and print one table.

    python benchmarks/run.py            # prints, and appends to benchmarks/RESULTS.md
    python benchmarks/run.py --no-write

1. float32 GEMM peak of this machine (numpy.matmul, 2048^2);
2. the U-Net alone, chainer's own convolutions ("plain") vs unetvocalsep.fastconv
   ("fast"), alternating in the same run: inference on 1024 frames (32.8 s of
   audio) and training patches/s at batch 16 and 64, with the achieved GFLOP/s;
3. end-to-end separation of generated 44.1 kHz stereo files in fresh processes:
   3 minutes (median of 3, plain and fast), then 10, 30 and 60 minutes (fast)
   for the memory curve; wall time, real-time factor, peak RSS and the time per
   stage (decode, resample, STFT, network, inverse STFT, encode).

Medians of several runs; on a noisy machine compare the ratios of one run.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_network  # noqa: E402
import bench_separate  # noqa: E402
from results import append_section  # noqa: E402

FORWARD_GFLOP = 0.9646   # 482.3 M multiply-adds per 512 x 128 patch


def network_rows(rounds=2, reps=5, train_reps=3):
    """Plain vs fast, alternating; returns {metric: (plain, fast)} medians."""
    out = {"inference_s": ([], []), "train16": ([], []), "train64": ([], [])}
    for _ in range(rounds):
        for i, fast in enumerate((False, True)):
            out["inference_s"][i].append(bench_network.bench_inference(fast, frames=1024, reps=reps))
            out["train16"][i].append(bench_network.bench_training(fast, 16, reps=train_reps))
            out["train64"][i].append(bench_network.bench_training(fast, 64, reps=max(2, train_reps - 1)))
    return {k: (statistics.median(p), statistics.median(f)) for k, (p, f) in out.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--model", default=None, help="model for the separation runs (default: bundled)")
    args = p.parse_args(argv)

    peak = bench_network.gemm_peak_gflops()
    net = network_rows(args.rounds)
    inf_p, inf_f = net["inference_s"]
    frames_gflop = FORWARD_GFLOP * 1024 / 128
    lines = [f"float32 GEMM peak: **{peak:.0f} GFLOP/s** (numpy.matmul 2048^2, median)", "",
             "| network (CPU) | plain chainer | fast path | speed-up |", "|---|---|---|---|",
             f"| inference, 1024 frames (32.8 s audio) | {inf_p:.3f} s ({32.768 / inf_p:.0f}x real time, "
             f"{frames_gflop / inf_p:.0f} GFLOP/s) | {inf_f:.3f} s ({32.768 / inf_f:.0f}x, "
             f"{frames_gflop / inf_f:.0f} GFLOP/s) | {inf_p / inf_f:.2f}x |"]
    for b in (16, 64):
        tp, tf = net[f"train{b}"]
        lines.append(f"| training patches/s, batch {b} | {tp:.2f} ({3 * FORWARD_GFLOP * tp:.0f} GFLOP/s) | "
                     f"{tf:.2f} ({3 * FORWARD_GFLOP * tf:.0f} GFLOP/s) | {tf / tp:.2f}x |")

    env_plain = dict(os.environ, UNETVOCALSEP_FASTCONV="0")
    plain3 = bench_separate.run([3], reps=3, long_minutes=[], model=args.model, env=env_plain)
    fast = bench_separate.run([3], reps=3, long_minutes=[10, 30, 60], model=args.model)
    lines += ["", "End-to-end separation, 44.1 kHz stereo wav -> two 16-bit wavs (fresh process each, "
              "model loading included):", "", "plain chainer convolutions:", "",
              bench_separate.table(plain3), "", "fast path (default):", "", bench_separate.table(fast)]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        append_section("Benchmark suite (benchmarks/run.py)", text)


if __name__ == "__main__":
    main()
