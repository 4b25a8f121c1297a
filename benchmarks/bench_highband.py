"""The high-band rules and the Wiener filter on real songs (issue 27; docs/HIGHBAND.md).

For every MUSDB18 ``.stem.mp4`` of a split (the 7-second previews work as
well as full tracks), at the file's own rate (44.1 kHz stereo):

- the mixture is separated with each ``--highband`` rule (and, for the rules
  given to ``--wiener-rules``, with the Wiener filter too), and scored
  against the true vocals: whole-clip vocal SDR (BSS Eval v3, the package's
  :func:`~unetvocalsep.evaluation.metrics.bss_eval_v3`), and the estimated vocals'
  energy above 8 kHz and at 5.5-7.7 kHz relative to the true vocals' (dB; 0
  is right, below 0 is duller than the truth);
- the accompaniment stem alone (real instrumental music) is separated too,
  and the vocal stem's energy in 7.8-8.05 kHz is measured relative to the
  music's own energy there (the band-edge leak; issue 27 asks <= -20 dB),
  and over the whole band (leakage).

Medians over the tracks are printed as a Markdown table and written, with
every track's figures, to ``--json``. Separation time is the sum over the
mixtures (network included, decoding excluded). Pause background training
before timing anything.

Choose a rule on ``--split train`` (the model never saw MUSDB18), and report
on ``--split test`` only: the test tracks are for reporting, never tuning.

Usage::

    python benchmarks/bench_highband.py --musdb /path/to/musdb --split train \\
        --json docs/highband-train.json
"""
import argparse
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import unetvocalsep  # noqa: E402,F401  (before NumPy: unetvocalsep.fast.blas)
import numpy as np  # noqa: E402

from unetvocalsep.training.datasets import MUSDB_VALIDATION_TRACKS  # noqa: E402
from unetvocalsep.highband import HIGHBANDS  # noqa: E402
from unetvocalsep.evaluation.metrics import bss_eval_v3  # noqa: E402
from unetvocalsep.separator import Separator  # noqa: E402
from unetvocalsep.training.stems import load_musdb_stem  # noqa: E402

#: Bands measured, Hz.
BANDS = {"above8k": (8000.0, None), "5.5-7.7k": (5500.0, 7700.0), "edge": (7800.0, 8050.0)}


def band_energy(y, sr, lo, hi):
    """Energy of ``y`` (channels, samples) between ``lo`` and ``hi`` Hz (an STFT of 4096)."""
    from unetvocalsep.spectrogram import stft_frames

    spec = stft_frames(np.atleast_2d(y), 4096, 1024)
    f = np.arange(spec.shape[-1]) * sr / 4096
    sel = (f >= lo) & (f < (hi if hi is not None else np.inf))
    return float(np.sum(np.abs(spec[..., sel]) ** 2, dtype=np.float64))


def ratio_db(a, b):
    """10 log10(a / b), NaN when b is 0 (nothing to compare with)."""
    if b <= 0:
        return float("nan")
    return float(10 * np.log10(max(a, 1e-30) / b))


def configs(rules, wiener_rules):
    return [(r, False) for r in rules] + [(r, True) for r in wiener_rules]


def name_of(rule, wiener):
    return rule + (" + wiener" if wiener else "")


def score_track(path, separators):
    s = load_musdb_stem(path, mono=False)
    x, voc, acc, sr = s.mixture, s.vocals, s.accompaniment, s.sr
    out = {}
    for key, sep in separators.items():
        t0 = time.perf_counter()
        v = sep.separate(x, sr)["vocals"]
        dt = time.perf_counter() - t0
        sdr = bss_eval_v3(np.stack([voc, acc]), np.stack([v, x - v]))[0]
        row = {"sdr": float(sdr[0]), "acc_sdr": float(sdr[1]), "seconds": dt,
               "audio_seconds": x.shape[-1] / sr}
        for band in ("above8k", "5.5-7.7k"):
            lo, hi = BANDS[band]
            row[band] = ratio_db(band_energy(v, sr, lo, hi), band_energy(voc, sr, lo, hi))
        vi = sep.separate(acc, sr)["vocals"]
        lo, hi = BANDS["edge"]
        row["edge_leak"] = ratio_db(band_energy(vi, sr, lo, hi), band_energy(acc, sr, lo, hi))
        row["leakage"] = ratio_db(float(np.sum(vi.astype(np.float64) ** 2)),
                                  float(np.sum(acc.astype(np.float64) ** 2)))
        out[key] = row
    return out


def summary(results, keys):
    rows = []
    for key in keys:
        vals = [r[key] for r in results.values() if key in r]

        def med(field):
            a = np.array([v[field] for v in vals], dtype=np.float64)
            a = a[np.isfinite(a)]
            return float(np.median(a)) if a.size else float("nan")
        secs = sum(v["seconds"] for v in vals)
        audio = sum(v["audio_seconds"] for v in vals)
        rows.append({"config": key, "tracks": len(vals), "sdr": med("sdr"),
                     "acc_sdr": med("acc_sdr"), "above8k": med("above8k"),
                     "5.5-7.7k": med("5.5-7.7k"), "edge_leak": med("edge_leak"),
                     "leakage": med("leakage"), "seconds": secs, "speed": audio / secs})
    return rows


def markdown(rows):
    lines = ["| rule | tracks | vocal SDR | acc. SDR | vocals >8 kHz vs true | 5.5-7.7 kHz vs true "
             "| instrumental: 7.8-8.05 kHz in vocals | leakage | time (x real time) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['tracks']} | {r['sdr']:.2f} dB | {r['acc_sdr']:.2f} dB "
                     f"| {r['above8k']:+.1f} dB | {r['5.5-7.7k']:+.1f} dB "
                     f"| {r['edge_leak']:.1f} dB | {r['leakage']:.1f} dB "
                     f"| {r['seconds']:.1f} s ({r['speed']:.0f}x) |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--musdb", required=True, help="folder with train/ and test/ .stem.mp4 files")
    p.add_argument("--split", default="train", choices=["train", "valid", "test"],
                   help="train: the 86 non-validation train tracks (or all present), valid: "
                        "the 14 standard validation tracks, test: report only")
    p.add_argument("--rules", nargs="+", default=list(HIGHBANDS), choices=HIGHBANDS)
    p.add_argument("--wiener-rules", nargs="*", default=["average"], choices=HIGHBANDS)
    p.add_argument("--model", default=None)
    p.add_argument("--max-tracks", type=int, default=None)
    p.add_argument("--json", default=None, help="write every figure here")
    args = p.parse_args(argv)

    folder = "test" if args.split == "test" else "train"
    files = sorted(glob.glob(os.path.join(args.musdb, folder, "*.stem.mp4")))
    if args.split != "test":
        valid = set(MUSDB_VALIDATION_TRACKS)
        files = [f for f in files if (os.path.basename(f)[:-len(".stem.mp4")] in valid)
                 == (args.split == "valid")]
    files = files[:args.max_tracks]
    if not files:
        raise SystemExit(f"no .stem.mp4 files for split {args.split} under {args.musdb}")
    separators = {name_of(r, w): Separator(args.model, highband=r, wiener=w)
                  for r, w in configs(args.rules, args.wiener_rules)}
    results = {}
    for i, f in enumerate(files):
        results[os.path.basename(f)] = score_track(f, separators)
        print(f"[{i + 1}/{len(files)}] {os.path.basename(f)}", file=sys.stderr)
    rows = summary(results, list(separators))
    table = markdown(rows)
    print(table, end="")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"split": args.split, "tracks": len(files), "summary": rows,
                       "per_track": results}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
