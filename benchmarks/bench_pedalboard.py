"""Benchmark (issue 26): the corpus's hand-written vocal chain against Spotify's pedalboard.

The real-music corpus produces every vocal take with
:func:`unetvocalsep.synth.production.vocal_chain` (EQ, RMS compressor, tanh
saturation, convolution reverb; SciPy filters). Issue 26 asks to try
``pedalboard`` against it and keep whichever is faster and sounds right. This
times both on the same dry vocals with the same random settings, in the same
process, alternating, and compares what they do: the output's level and its
spectral balance (energy in octave bands relative to the input's), so that a
chain that is faster but does something else shows.

    python benchmarks/bench_pedalboard.py [--seconds 30] [--takes 8]

Needs ``pip install pedalboard`` (not a dependency of the package).
"""
import argparse
import time

import numpy as np

import unetvocalsep  # noqa: F401  (before NumPy's BLAS, see fast/blas.py)
from unetvocalsep.synth import production

SR = 44100
BANDS = [(100, 400), (400, 1600), (1600, 5500), (5500, 7700), (7700, 16000)]


def dry_vocals(seconds, seed):
    """A sung-like harmonic line with vibrato, phrases and breath noise (mono)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 180 * 2 ** (rng.integers(0, 12, size=int(seconds * 2) + 1)[(t * 2).astype(int)] / 12)
    f0 = f0 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) / k ** 1.2 for k in range(1, 30) if k * f0.max() < SR / 2)
    y = y * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t) ** 2) + 0.01 * rng.normal(size=n)
    return (0.3 * y / np.abs(y).max()).astype(np.float64)


def pedalboard_chain(x, s, rng):
    """The same settings through pedalboard's plugins (the room drawn as the hand-written chain does)."""
    import pedalboard as pb

    e, c = s["eq"], s["comp"]
    level = np.sqrt(production._smooth(x * x, SR, c["attack"]) + 1e-12).max()   # as compress()
    board = pb.Pedalboard([
        pb.HighpassFilter(e["highpass_hz"]),
        pb.PeakFilter(e["peak_hz"], e["peak_db"], e["peak_q"]),
        pb.HighShelfFilter(e["shelf_hz"], e["shelf_db"]),
        # threshold relative to the signal's own peak RMS, as the hand-written one
        pb.Compressor(threshold_db=20 * np.log10(level + 1e-12) + c["threshold_db"], ratio=c["ratio"],
                      attack_ms=1000 * c["attack"], release_ms=1000 * c["release"]),
    ])
    y = board(x.astype(np.float32)[None, :], SR)[0].astype(np.float64)
    ry = np.sqrt(np.mean(y * y))
    if ry > 0:   # make-up gain, as the hand-written compressor
        y *= np.sqrt(np.mean(x * x)) / ry
    if s["saturation"]["mix"] > 0:
        y = production.saturate(y, **s["saturation"])   # pedalboard's Distortion has no dry/wet
    if s["reverb"]["wet"] > 0:
        ir = production.room(rng, SR, s["reverb"]["rt60"])
        wet = pb.Pedalboard([pb.Convolution(ir.astype(np.float32), mix=1.0, sample_rate=SR)])(
            y.astype(np.float32)[None, :], SR)[0]
        y = (1 - s["reverb"]["wet"]) * y + s["reverb"]["wet"] * wet[:len(y)]
    return y


def band_db(x, y):
    """Energy of ``y`` relative to ``x`` in each of :data:`BANDS`, dB."""
    fx, fy = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    return [10 * np.log10(fy[(f >= a) & (f < b)].sum() / max(fx[(f >= a) & (f < b)].sum(), 1e-30))
            for a, b in BANDS]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--takes", type=int, default=8)
    args = p.parse_args(argv)
    times = {"hand-written (SciPy)": [], "pedalboard": []}
    diffs = []
    for k in range(args.takes):
        x = dry_vocals(args.seconds, k)
        rng = np.random.default_rng(100 + k)
        t0 = time.perf_counter()
        y1, s = production.vocal_chain(x, SR, rng)
        times["hand-written (SciPy)"].append(time.perf_counter() - t0)
        rng2 = np.random.default_rng(100 + k)
        production.vocal_chain(np.zeros(16), SR, rng2)   # past the same settings' draws; the room
        # is then another draw with the same rt60 (its timing is what matters here)
        t0 = time.perf_counter()
        y2 = pedalboard_chain(x, s, rng2)
        times["pedalboard"].append(time.perf_counter() - t0)
        diffs.append(np.array(band_db(x, y2)) - np.array(band_db(x, y1)))
    print(f"{args.takes} takes of {args.seconds:g} s at {SR} Hz, same settings for both:")
    print("| chain | median s per take | x real time |\n|---|---:|---:|")
    for name, v in times.items():
        m = float(np.median(v))
        print(f"| {name} | {m:.3f} | {args.seconds / m:.0f} |")
    d = np.median(np.abs(np.array(diffs)), axis=0)
    print("median |pedalboard - hand-written| band balance, dB: "
          + ", ".join(f"{a}-{b} Hz {v:.2f}" for (a, b), v in zip(BANDS, d)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
