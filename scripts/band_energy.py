#!/usr/bin/env python3
"""Vocal energy in a frequency band, estimate against truth, per track (issue 26).

For each track of a dataset (the MUSDB18 test previews by default) the vocal
estimate of each method is compared with the true vocals in one band
(5.5-7.7 kHz by default: where the bundled model's vocals were 10-40 dB too
quiet): ``10 log10(E_estimate / E_true)`` over the band's STFT bins
(:mod:`unetvocalsep.evaluation.bands`), at the
mixture's own rate and channels, the model at its default settings. Prints the
median over the tracks per method, and one JSON line per track with ``--json``.

Usage::

    python scripts/band_energy.py musdb18 MUSDB_DIR --split test \\
        --method unet --method irm --method repet-sim [--model M] [--band 5500 7700]
"""
import argparse
import json
import sys

import numpy as np

from unetvocalsep.evaluation.bands import band_energy
from unetvocalsep.evaluation.evaluate import list_tracks, load_track, separate_with
from unetvocalsep.separator import Separator


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("root")
    p.add_argument("--split", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--method", action="append", dest="methods")
    p.add_argument("--band", nargs=2, type=float, default=(5500.0, 7700.0))
    p.add_argument("--max-tracks", type=int, default=None)
    p.add_argument("--json", action="store_true", help="one line per track too")
    args = p.parse_args(argv)
    methods = args.methods or ["unet"]
    lo, hi = args.band
    sep = Separator(args.model) if "unet" in methods else None
    rows = {m: [] for m in methods}
    tracks = list_tracks(args.dataset, args.root, args.split)[:args.max_tracks]
    for t in tracks:
        mix, voc, acc, sr = load_track(t)
        true = band_energy(voc, sr, lo, hi)
        if true <= 1e-12:
            continue   # no vocal energy in the band: no ratio
        for m in methods:
            est, _ = separate_with(m, mix, voc, acc, sr, "full", sep)
            ratio = 10 * np.log10(max(band_energy(est, sr, lo, hi), 1e-20) / true)
            rows[m].append(ratio)
            if args.json:
                print(json.dumps({"track": t.name, "method": m, "band_db": round(ratio, 2)}))
    for m in methods:
        v = np.array(rows[m])
        print(f"{m}: median {np.median(v):+.2f} dB (quartiles {np.percentile(v, 25):+.2f} / "
              f"{np.percentile(v, 75):+.2f}) over {len(v)} tracks, band {lo:g}-{hi:g} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
