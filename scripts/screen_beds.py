#!/usr/bin/env python3
"""Rank game-music beds by the vocal energy a model finds in them (a hint, not a verdict).

Beds with singing or choirs belong in ``unetvocalsep.synth.beds.EXCLUDED``;
this lists the candidates to listen to, most vocal first.

Usage::

    python scripts/screen_beds.py [PACKAGE ...] [--model MODEL] [--top N]
"""
import argparse
import json

import numpy as np

from unetvocalsep.separator import Separator
from unetvocalsep.synth import beds as beds_mod
from unetvocalsep.synth.beds import SR


def screen_beds(beds, cache_dir=None, model=None):
    """Vocal energy the current model finds in each track (a hint, not a verdict).

    Parameters
    ----------
    beds : list of Bed
    cache_dir : str, optional
    model : str, optional
        Model file (default: the bundled model).

    Returns
    -------
    list of dict
        One per bed, sorted from most to least vocal: ``id``, ``seconds``,
        ``vocal_db`` (vocal-stem energy relative to the mixture, dB) and
        ``active`` (fraction of 1 s windows whose vocal stem is above -12 dB
        relative to that window's mixture).
    """
    sep = Separator(model=model)
    rows = []
    for b in beds:
        y = np.asarray(beds_mod.load_bed(b, cache_dir), dtype=np.float32)
        v = sep.separate(y, SR)["vocals"]
        ev, em = float(np.sum(v.astype(np.float64) ** 2)), float(np.sum(y.astype(np.float64) ** 2))
        n = len(y) // SR
        w = lambda s: np.sum(s[:n * SR].astype(np.float64).reshape(n, SR) ** 2, axis=1)
        wv, wm = w(v), w(y)
        ok = wm > 1e-8 * SR
        active = float(np.mean(wv[ok] > wm[ok] * 10 ** -1.2)) if ok.any() else 0.0
        rows.append({"id": beds_mod.bed_id(b), "seconds": round(len(y) / SR, 1),
                     "vocal_db": round(10 * np.log10(max(ev, 1e-20) / max(em, 1e-20)), 2),
                     "active": round(active, 3)})
    rows.sort(key=lambda r: -r["vocal_db"])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("packages", nargs="*", default=list(beds_mod.TRAIN_PACKAGES),
                   help="Debian game-music packages (default: the training ones)")
    p.add_argument("--model", default=None, help="model (default: the bundled one)")
    p.add_argument("--top", type=int, default=20, help="rows to print")
    args = p.parse_args(argv)
    rows = screen_beds(beds_mod.find_beds(args.packages), model=args.model)
    for r in rows[:args.top]:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
