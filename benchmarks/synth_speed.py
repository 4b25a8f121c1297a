"""Time the synthetic corpus generator and extrapolate to one hour of audio.

Runs ``generate_corpus`` twice on the same settings: once with an empty
analysis cache (cold: every syllable is analysed with WORLD and every chorale
parsed with music21) and once with the cache filled (warm).  Prints one JSON
line; the numbers go into benchmarks/SYNTH.md by hand.

    python benchmarks/synth_speed.py --tracks 10 --seconds 30 -j 2
"""
import argparse
import json
import os
import platform
import shutil
import tempfile
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tracks", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("-j", "--jobs", type=int, default=2)
    args = p.parse_args(argv)

    from unetvocalsep.synth import generate_corpus
    work = tempfile.mkdtemp(prefix="synth-bench-")
    try:
        cache = os.path.join(work, "cache")
        times = {}
        for label in ("cold", "warm"):
            out = os.path.join(work, label)
            t0 = time.perf_counter()
            generate_corpus(out, args.tracks, args.seconds, args.seed, jobs=args.jobs,
                            cache_dir=cache, progress=False)
            times[label] = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    audio = args.tracks * args.seconds
    one_off = max(times["cold"] - times["warm"], 0.0)
    res = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "command": f"python benchmarks/synth_speed.py --tracks {args.tracks} "
                   f"--seconds {args.seconds:g} -j {args.jobs}",
        "audio_seconds": audio,
        "cold_s": round(times["cold"], 1),
        "warm_s": round(times["warm"], 1),
        "warm_realtime_factor": round(audio / times["warm"], 2),
        "one_hour_warm_s": round(times["warm"] * 3600 / audio, 0),
        "one_hour_cold_s": round(times["warm"] * 3600 / audio + one_off, 0),
    }
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
