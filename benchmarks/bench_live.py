"""Quality and CPU load of live separation against latency (docs/LIVE.md).

For each held-out song (a folder in the synth layout: ``<track>/mixture.wav``
and ``vocals.wav``), the live separator processes the mixture in 1024-frame
blocks, as a sound card would deliver it; its vocals are time-aligned (the
first ``delay`` samples dropped) and scored like ``evaluate`` scores the
``16k`` rate: BSS Eval v4 (museval) on 16 kHz mono, median over 1 s windows,
then the median over songs.  The offline ``separate`` output of the same
model is scored the same way.  CPU load = processing time / audio time, on
whatever else the machine is doing (run it on a quiet machine)::

    python -m unetvocalsep.synth -o corpus/valid --tracks 12 --seconds 30 --seed 2 -j 2
    python benchmarks/bench_live.py corpus/valid --tracks 6 --plot docs/live-latency.png

prints the Markdown table of docs/LIVE.md and writes the plot.
"""
import argparse
import json
import os
import sys
import time

import unetvocalsep  # noqa: F401  (before NumPy: picks the OpenBLAS kernels, unetvocalsep.fast.blas)
import numpy as np  # noqa: E402

LATENCIES = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
BLOCK = 1024


def score(ref_vocals, ref_acc, est_vocals, est_acc, sr):
    from unetvocalsep.resampling import to_mono16
    from unetvocalsep.evaluation.metrics import bss_eval_v4, nanmedian
    refs = np.stack([to_mono16(ref_vocals, sr), to_mono16(ref_acc, sr)])
    ests = np.stack([to_mono16(est_vocals, sr), to_mono16(est_acc, sr)])
    n = min(refs.shape[-1], ests.shape[-1])
    v4 = bss_eval_v4(refs[..., :n], ests[..., :n], 16000)
    return float(nanmedian(v4["SDR"][0]))


def live_run(sep, y, sr, latency):
    from unetvocalsep.streaming import LiveSeparator
    live = LiveSeparator(sep, sr=sr, channels=y.shape[0], latency=latency)
    pad = np.concatenate([y, np.zeros((y.shape[0], live.delay), np.float32)], axis=1)
    vs, accs = [], []
    t0 = time.process_time()
    w0 = time.perf_counter()
    for i in range(0, pad.shape[1], BLOCK):
        v, a = live.process(pad[:, i:i + BLOCK])
        vs.append(v)
        accs.append(a)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    v = np.concatenate(vs, 1)[:, live.delay:live.delay + y.shape[1]]
    a = np.concatenate(accs, 1)[:, live.delay:live.delay + y.shape[1]]
    seconds = pad.shape[1] / sr
    return v, a, {"load": wall / seconds, "cpu_load": cpu / seconds,
                  "runs_per_s": live.stats["runs"] / seconds, "hop_s": live.step / sr,
                  "window_s": live.window / sr}


def main(argv=None):
    import soundfile as sf

    from unetvocalsep.separate import Separator
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder")
    p.add_argument("--tracks", type=int, default=6)
    p.add_argument("--plot", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    names = sorted(d for d in os.listdir(args.folder)
                   if os.path.isfile(os.path.join(args.folder, d, "mixture.wav")))[:args.tracks]
    sep = Separator()
    rows = {"offline": []}
    loads = {lat: [] for lat in LATENCIES}
    total = 0.0
    for name in names:
        d = os.path.join(args.folder, name)
        mix, sr = sf.read(os.path.join(d, "mixture.wav"), dtype="float32", always_2d=True)
        voc, _ = sf.read(os.path.join(d, "vocals.wav"), dtype="float32", always_2d=True)
        mix, voc = mix.T, voc.T
        acc = mix - voc
        total += mix.shape[1] / sr
        off = sep.separate(mix, sr)
        rows["offline"].append(score(voc, acc, off["vocals"], off["accompaniment"], sr))
        for lat in LATENCIES:
            v, a, info = live_run(sep, mix, sr, lat)
            rows.setdefault(lat, []).append(score(voc, acc, v, a, sr))
            loads[lat].append(info)
        print(f"{name}: offline {rows['offline'][-1]:.2f} dB, live "
              + ", ".join(f"{lat:g} s {rows[lat][-1]:.2f}" for lat in LATENCIES), file=sys.stderr)
    med = {k: float(np.median(v)) for k, v in rows.items()}
    print(f"{len(names)} held-out songs, {total / 60:.1f} min; vocal SDR = BSS Eval v4 median "
          "(16 kHz mono), median over songs\n")
    print("| latency | hop | window | vocal SDR | vs offline | CPU load | real-time margin |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for lat in LATENCIES:
        info = loads[lat]
        load = float(np.mean([i["load"] for i in info]))
        print(f"| {lat:g} s | {info[0]['hop_s'] * 1000:.0f} ms | {info[0]['window_s']:.2f} s | "
              f"{med[lat]:.2f} dB | {med[lat] - med['offline']:+.2f} dB | {load:.3f} | "
              f"{1 / load:.1f}x |")
    print(f"| offline `separate` | | | {med['offline']:.2f} dB | | | |")
    out = {"songs": names, "minutes": total / 60, "median_sdr": {str(k): v for k, v in med.items()},
           "per_song": {str(k): v for k, v in rows.items()},
           "load": {str(k): float(np.mean([i["load"] for i in v])) for k, v in loads.items()}}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
        ax.semilogx(LATENCIES, [med[lat] for lat in LATENCIES], "o-", label="live")
        ax.axhline(med["offline"], color="k", ls="--", label="offline separate")
        ax.set_xticks(LATENCIES)
        ax.set_xticklabels([f"{lat:g}" for lat in LATENCIES])
        ax.set_xlabel("latency (s)")
        ax.set_ylabel("vocal SDR (dB)")
        ax2 = ax.twinx()
        ax2.semilogx(LATENCIES, [out["load"][str(lat)] for lat in LATENCIES], "s:", color="C3",
                     label="CPU load")
        ax2.set_ylabel("CPU load (1 = real time)", color="C3")
        ax.legend(loc="lower right")
        ax.set_title("Live separation: quality and load against latency")
        fig.tight_layout()
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
