"""Benchmark: the U-Net on CPU with chainer's own convolutions vs unetvocalsep.fast.fastconv.

Measures, in one run so that the ratios are comparable on a noisy machine:

(a) inference time of ``UNet`` on a ``(1, 1, 512, frames)`` spectrogram
    (1024 frames = 32.8 s of 16 kHz audio at hop 512) and its real-time factor,
    along three paths: chainer's links ("plain"), chainer with the fastconv
    FunctionNodes, and the NumPy inference plan that separation uses;
(b) training throughput (patches/s) of ``UNetTrainmodel`` + Adam at batch 16
    and 64 (128-frame patches, 512 bins);
(c) the float32 GEMM peak of this machine (2048 x 2048 ``numpy.matmul``) and
    the GFLOP/s the network achieves (482.3 M multiply-adds = 0.9646 GFLOP per
    512 x 128 patch forward; a training step counts as 3 forwards).

Plain and fast measurements alternate (``--rounds``) and each number is a
median of repetitions. The table is printed and appended as Markdown to
``benchmarks/RESULTS.md``.

Usage::

    python benchmarks/bench_network.py [--rounds 2] [--reps 5] [--train-reps 3]
        [--batches 16 64] [--frames 1024] [--no-write]

The functions :func:`bench_inference`, :func:`bench_training` and
:func:`gemm_peak_gflops` are importable by a suite runner.
"""
import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unetvocalsep import _compat  # noqa: F401,E402  (must precede chainer)

import numpy as np  # noqa: E402

import chainer  # noqa: E402

from unetvocalsep.fast import allocator, fastconv  # noqa: E402
from unetvocalsep.network import UNet, UNetTrainmodel  # noqa: E402

#: Multiply-adds of one forward pass over a 512 x 128 patch.
MACS_PER_PATCH = 482.3e6
#: FLOP of one forward pass over a 512 x 128 patch.
GFLOP_PER_PATCH = 2 * MACS_PER_PATCH / 1e9
#: A training step (forward + backward for inputs and weights) ~ 3 forwards.
TRAIN_FORWARD_EQUIV = 3
#: Seconds of audio per spectrogram frame (hop 512 at 16 kHz).
SECONDS_PER_FRAME = 512 / 16000

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def _median_time(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


#: The three CPU inference paths: chainer's own links, chainer with the
#: fastconv FunctionNodes (the training kernels), and the NumPy inference plan
#: that separation uses.
INFERENCE_PATHS = ("plain", "fastconv", "plan", "onnx")


def bench_inference(path, frames=1024, reps=5):
    """Median seconds of one U-Net forward pass on ``(1, 1, 512, frames)``.

    Parameters
    ----------
    path : {'plain', 'fastconv', 'plan', 'onnx'}
        ``'plain'``: chainer's ``Convolution2D``/``Deconvolution2D`` links;
        ``'fastconv'``: the same chain with :mod:`unetvocalsep.fast.fastconv`;
        ``'plan'``: :class:`unetvocalsep.fast.inference.InferencePlan` (what
        separation falls back to); ``'onnx'``:
        :class:`unetvocalsep.fast.ortbackend.OnnxNetwork` (the default CPU backend).
    frames : int
        Spectrogram frames, a multiple of 64.
    reps : int
        Timed repetitions (after one warm-up).

    Returns
    -------
    float
        Seconds (median).
    """
    from unetvocalsep.fast.inference import InferencePlan

    rng = np.random.default_rng(0)
    unet = _unet(path == "fastconv")
    x = rng.random((1, 1, 512, frames), dtype=np.float32)
    if path == "plan":
        plan = InferencePlan.from_unet(unet)
        return _median_time(lambda: plan(x), reps)
    if path == "onnx":
        from unetvocalsep.fast.inference import unet_params
        from unetvocalsep.fast.ortbackend import OnnxNetwork

        net = OnnxNetwork(*unet_params(unet))
        return _median_time(lambda: net(x), reps)
    with fastconv.use_fast_path(path == "fastconv"), chainer.using_config("train", False), \
            chainer.no_backprop_mode():
        return _median_time(lambda: unet(x), reps)


def _unet(fast):
    """The network a run measures: on the fast path the :class:`FastUNet` training uses.

    Since issue 30 the article's ``UNet`` has no fast path of its own; training
    on the CPU wraps it once (``unetvocalsep.fast.fastunet.for_device``). Older
    trees (the baseline revision of bench_training.py) have no ``fastunet``: there
    ``UNet`` itself took the fast path.
    """
    unet = UNet()
    if not fast:
        return unet
    try:
        from unetvocalsep.fast.fastunet import from_unet
    except ImportError:
        return unet
    return from_unet(unet)


def bench_training(fast, batch, reps=3):
    """Median training throughput of ``UNetTrainmodel`` + Adam, patches/s.

    Parameters
    ----------
    fast : bool
        Use :mod:`unetvocalsep.fast.fastconv` (True) or chainer's links (False).
    batch : int
        Patches of shape (1, 512, 128) per step.
    reps : int
        Timed steps (after one warm-up step).

    Returns
    -------
    float
        Patches per second (batch / median step time).
    """
    allocator.keep_freed_memory()   # as unetvocalsep.train does for CPU training
    rng = np.random.default_rng(0)
    model = UNetTrainmodel(_unet(fast))
    opt = chainer.optimizers.Adam()
    opt.setup(model)
    X = rng.random((batch, 1, 512, 128), dtype=np.float32)
    Y = rng.random((batch, 1, 512, 128), dtype=np.float32)
    with fastconv.use_fast_path(fast), chainer.using_config("train", True):
        seconds = _median_time(lambda: opt.update(model, X, Y), reps)
    return batch / seconds


def gemm_peak_gflops(n=2048, reps=5):
    """Measured float32 GEMM speed of this machine (``numpy.matmul``), GFLOP/s.

    Parameters
    ----------
    n : int
        Square matrix size.
    reps : int

    Returns
    -------
    float
        ``2 n^3 / t`` for the fastest of ``reps`` products (peak, not median).
    """
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = min(_timed(lambda: np.matmul(a, b, out=out)) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine_info():
    """Dict with date, CPU model, cores, git commit, Python/numpy/BLAS versions."""
    info = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    info["cpu"] = model
    info["cores"] = os.cpu_count()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=os.path.dirname(RESULTS)).stdout.strip()
    except OSError:
        commit = ""
    info["commit"] = commit or "uncommitted"
    info["python"] = platform.python_version()
    info["numpy"] = np.__version__
    info["chainer"] = chainer.__version__
    info["blas"] = _blas_info()
    info["threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    info["load"] = _load()
    return info


def _load():
    """1-minute load average (other processes make every number noisier)."""
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "n/a"


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            p = pools[0]
            return "%s %s (%s, %s threads)" % (
                p.get("internal_api"), p.get("version"), p.get("architecture"),
                p.get("num_threads"))
    except ImportError:
        pass
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return "%s %s" % (blas.get("name"), blas.get("version"))
    except Exception:  # noqa: BLE001  (older numpy: no dict mode)
        return "unknown"


def run(rounds=2, reps=5, train_reps=3, batches=(16, 64), frames=1024):
    """Run all measurements, alternating the paths; return a result dict."""
    res = {"infer": {p: [] for p in INFERENCE_PATHS}, "train": {}}
    for b in batches:
        res["train"][b] = {False: [], True: []}
    peaks = [gemm_peak_gflops()]
    for r in range(rounds):
        for path in INFERENCE_PATHS:
            t = bench_inference(path, frames, reps)
            res["infer"][path].append(t)
            print("round %d  inference %-8s %.3f s" % (r, path, t), flush=True)
        for b in batches:
            for fast in (False, True):
                pps = bench_training(fast, b, train_reps)
                res["train"][b][fast].append(pps)
                print("round %d  train b=%-3d %-5s %.2f patches/s"
                      % (r, b, "fast" if fast else "plain", pps), flush=True)
        peaks.append(gemm_peak_gflops())
    res["gemm_peak"] = float(np.median(peaks))
    res["gemm_peaks"] = peaks
    res["frames"] = frames
    return res


def inference_table(infer, frames, peak):
    """Markdown rows comparing the inference paths (medians of ``infer[path]``)."""
    audio_s = frames * SECONDS_PER_FRAME
    gflop = GFLOP_PER_PATCH * frames / 128
    floor = gflop / peak
    t = {p: float(np.median(v)) for p, v in infer.items()}
    rows = ["| inference path, (1, 1, 512, %d) = %.1f s of audio | seconds | x real time | "
            "GFLOP/s (%% of GEMM peak) | speed-up vs plain |" % (frames, audio_s),
            "|---|---|---|---|---|"]
    names = {"plain": "plain chainer links", "fastconv": "chainer + fastconv FunctionNodes",
             "plan": "NumPy inference plan (the fallback)",
             "onnx": "onnxruntime (the default CPU backend of separation)"}
    for p in INFERENCE_PATHS:
        rows.append("| %s | %.3f | %.0f | %.0f (%.0f%%) | %.2fx |"
                    % (names[p], t[p], audio_s / t[p], gflop / t[p], 100 * gflop / t[p] / peak,
                       t["plain"] / t[p]))
    rows.append("| GEMM-bound floor (%.1f GFLOP at the measured peak) | %.3f | %.0f | %.0f (100%%) "
                "| %.2fx |" % (gflop, floor, audio_s / floor, peak, t["plain"] / floor))
    return rows


def table(res):
    """Markdown tables of the results of :func:`run`."""
    peak = res["gemm_peak"]
    rows = inference_table(res["infer"], res["frames"], peak)
    rows += ["", "| training | plain chainer | fastconv | speed-up |", "|---|---|---|---|"]
    for b, d in res["train"].items():
        p = {f: float(np.median(d[f])) for f in (False, True)}
        g = {f: p[f] * GFLOP_PER_PATCH * TRAIN_FORWARD_EQUIV for f in p}
        rows.append("| batch %d, patches/s | %.2f | %.2f | %.2fx |"
                    % (b, p[False], p[True], p[True] / p[False]))
        rows.append("| batch %d GFLOP/s (%% of GEMM peak) | %.0f (%.0f%%) "
                    "| %.0f (%.0f%%) | |"
                    % (b, g[False], 100 * g[False] / peak, g[True], 100 * g[True] / peak))
    rows.append("")
    rows.append("float32 GEMM peak 2048^3: %.0f GFLOP/s (median of %d samples: %s)"
                % (peak, len(res["gemm_peaks"]), ", ".join("%.0f" % v for v in res["gemm_peaks"])))
    return "\n".join(rows)


def append_results(md, info, path=RESULTS):
    """Append a dated section with machine info and the table to RESULTS.md."""
    header = ("\n## bench_network.py: %s, %s (%s cores), commit %s\n\n"
              "Python %s, numpy %s, chainer %s, BLAS: %s, OPENBLAS_NUM_THREADS=%s; "
              "1-min load average %s at start, %s at end\n\n"
              % (info["date"], info["cpu"], info["cores"], info["commit"], info["python"],
                 info["numpy"], info["chainer"], info["blas"], info["threads"],
                 info["load"], _load()))
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("# Benchmark results\n\nAppended by the scripts in `benchmarks/`.\n")
        f.write(header + md + "\n")


def get_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=2,
                   help="alternating plain/fast rounds (default 2)")
    p.add_argument("--reps", type=int, default=5, help="inference repetitions (default 5)")
    p.add_argument("--train-reps", type=int, default=3,
                   help="timed training steps per measurement (default 3)")
    p.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    p.add_argument("--frames", type=int, default=1024)
    p.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    return p


def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.frames % 64:
        print("error: --frames must be a multiple of 64", file=sys.stderr)
        return 2
    info = machine_info()
    res = run(args.rounds, args.reps, args.train_reps, tuple(args.batches), args.frames)
    md = table(res)
    print()
    print(md)
    if not args.no_write:
        append_results(md, info)
        print("\nappended to %s" % RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
