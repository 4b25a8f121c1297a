"""The two CPU backends side by side: the NumPy plan and onnxruntime (issue 17).

    python benchmarks/bench_backends.py            # prints, and appends to RESULTS.md
    python benchmarks/bench_backends.py --no-write --reps 3

1. the network alone, at 128, 1024 and 2048 frames, on 1 and 2 threads, each
   (backend, threads) pair in its own child process (BLAS and onnxruntime
   thread pools are fixed at start), alternating; median seconds per call;
2. the whole pipeline (prefetch included): a 3-minute 44.1 kHz stereo song
   separated in a fresh process per run (benchmarks/bench_separate.py), with
   ``UNETVOCALSEP_CPU_BACKEND`` set to each backend, on 1 and 2 threads.

Pause any training first: a busy machine measures nothing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BACKENDS = ("plan", "onnx")
FRAMES = (128, 1024, 2048)
THREADS = (1, 2)


def _env(backend, threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env["UNETVOCALSEP_CPU_BACKEND"] = backend
    return env


def child_network(backend, threads, reps):
    """(In the child) time the network alone; prints JSON {frames: seconds}."""
    import time

    import unetvocalsep  # noqa: F401  (BLAS core type before NumPy loads)
    import numpy as np

    from unetvocalsep.fast.inference import InferencePlan
    from unetvocalsep.model_io import load_params

    params, _ = load_params()
    if backend == "onnx":
        from unetvocalsep.fast.ortbackend import OnnxNetwork

        net = OnnxNetwork(params, threads=threads)
    else:
        net = InferencePlan(params)
    out = {}
    rng = np.random.default_rng(0)
    for frames in FRAMES:
        x = rng.random((1, 1, 512, frames), dtype=np.float32)
        net(x)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - t0)
        out[frames] = statistics.median(times)
    print(json.dumps(out))


def network(reps=5, rounds=2):
    """Median seconds per call: {(backend, threads): {frames: s}}."""
    res = {}
    for _ in range(rounds):
        for threads in THREADS:
            for backend in BACKENDS:
                cmd = [sys.executable, __file__, "--child-network", backend, str(threads), str(reps)]
                got = json.loads(subprocess.run(cmd, env=_env(backend, threads), check=True,
                                                capture_output=True, text=True).stdout.splitlines()[-1])
                res.setdefault((backend, threads), []).append(got)
    return {k: {f: statistics.median(r[str(f)] for r in v) for f in FRAMES} for k, v in res.items()}


def pipeline(reps=3, minutes=3):
    """Fresh-process separation of one song: {(backend, threads): row}."""
    import bench_separate

    work = tempfile.mkdtemp(prefix="bench_backends_")
    path = os.path.join(work, "song.wav")
    bench_separate.make_song(path, minutes)
    runs = {}
    for _ in range(reps):   # alternate, so a drift in machine load hits all alike
        for threads in THREADS:
            for backend in BACKENDS:
                runs.setdefault((backend, threads), []).append(
                    bench_separate.measure(path, None, env=_env(backend, threads)))
    rows = {}
    for key, results in runs.items():
        wall = statistics.median(r["total"] for r in results)
        rows[key] = {"wall": wall, "rtf": minutes * 60 / wall,
                     "network": statistics.median(r["stages"].get("network", 0) for r in results),
                     "load": statistics.median(r["load"] for r in results),
                     "hwm": max(r["maxrss_mb"] for r in results)}
    subprocess.run(["rm", "-rf", work])
    return rows


def tables(net, pipe, reps):
    lines = ["Network alone, median seconds per call (1 x 1 x 512 x frames):", "",
             "| backend | threads | " + " | ".join(f"{f} frames" for f in FRAMES) + " |",
             "|---|---:|" + "---:|" * len(FRAMES)]
    for (backend, threads), row in sorted(net.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| {backend} | {threads} | " + " | ".join(f"{row[f]:.4f}" for f in FRAMES) + " |")
    lines += ["", f"Whole pipeline, 3-minute 44.1 kHz stereo song, fresh process, median of {reps}:", "",
              "| backend | threads | wall s | x real time | network s | model load s | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for (backend, threads), r in sorted(pipe.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| {backend} | {threads} | {r['wall']:.2f} | {r['rtf']:.0f} | {r['network']:.2f} | "
                     f"{r['load']:.2f} | {r['hwm']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child-network", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=3, help="fresh-process runs per pipeline cell")
    p.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = p.parse_args(argv)
    if args.child_network:
        backend, threads, reps = args.child_network
        return child_network(backend, int(threads), int(reps))
    net = network()
    pipe = pipeline(reps=args.reps)
    text = tables(net, pipe, args.reps)
    print(text)
    if not args.no_write:
        from results import append_section

        append_section("CPU backends: NumPy plan and onnxruntime (bench_backends.py)", text)


if __name__ == "__main__":
    main()
