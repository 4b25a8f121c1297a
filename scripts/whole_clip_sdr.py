#!/usr/bin/env python3
"""The median whole-clip vocal SDR of an ``evaluate`` results folder (issue 26).

``evaluate`` stores, per track, BSS Eval v3 over the whole clip as ``SDR_v3``
(the NSDR's SDR term); this prints their median over the tracks of
``RESULTS/unet/16k/*.json``::

    python scripts/whole_clip_sdr.py RESULTS
"""
import glob
import json
import sys

import numpy as np


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: whole_clip_sdr.py RESULTS_FOLDER", file=sys.stderr)
        return 2
    v = [json.load(open(f))["SDR_v3"]["vocals"] for f in glob.glob(argv[0] + "/unet/16k/*.json")]
    v = [x for x in v if x is not None and np.isfinite(x)]
    if not v:
        print(f"whole_clip_sdr: no finite vocal SDR_v3 under {argv[0]}/unet/16k", file=sys.stderr)
        return 1
    print(f"whole-clip vocal SDR (v3), median of {len(v)} clips: {np.median(v):.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
