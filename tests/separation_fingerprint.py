"""Fingerprints of the separation output, to check that refactors change nothing.

``python tests/separation_fingerprint.py`` rewrites ``tests/data/separation_fingerprint.json``
from the current code and bundled model; ``tests/test_pipeline_identity.py``
compares against it.  Regenerate it only when the output is *meant* to change
(new bundled weights, a deliberate change of the maths), and say so in the commit.

A fingerprint is the RMS of each stem in 0.5 s windows and its peak, read
back from the files ``separate_file`` writes (float32 WAV).  Different BLAS
kernels (Intel vs AMD) change the last float bits, so the comparison allows
1e-4 of the stem's largest window RMS; any change of the pipeline's maths
moves them by far more.
"""
import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PATH = os.path.join(HERE, "data", "separation_fingerprint.json")
EXAMPLE = os.path.join(ROOT, "examples", "example.wav")
WINDOW_S = 0.5


def long_song(path, seconds=180.0, sr=44100):
    """A deterministic 3-minute stereo song (conftest.toy_stems, seed 7)."""
    import soundfile as sf
    sys.path.insert(0, HERE)
    from conftest import toy_stems
    v, a = toy_stems(seconds=seconds, sr=sr, channels=2, seed=7)
    sf.write(path, (v + a).T, sr, subtype="FLOAT")
    return path


def model_sha256():
    from unetvocalsep.model_io import DEFAULT_MODEL
    with open(DEFAULT_MODEL, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fingerprint(path, out_dir):
    """Separate ``path`` with the defaults and fingerprint the two stems."""
    import soundfile as sf

    from unetvocalsep.separate import separate_file
    out = separate_file(path, out_dir, bits=32, overwrite=True, progress=False)
    res = {}
    for stem, p in sorted(out.items()):
        y, sr = sf.read(p, dtype="float64", always_2d=True)
        w = int(WINDOW_S * sr)
        n = len(y) // w
        rms = np.sqrt(np.mean(y[:n * w].reshape(n, w, -1) ** 2, axis=(1, 2)))
        res[stem] = {"samples": int(len(y)), "sr": int(sr), "channels": int(y.shape[1]),
                     "peak": float(np.abs(y).max()), "rms": [round(float(r), 9) for r in rms]}
    return res


def compute():
    with tempfile.TemporaryDirectory() as d:
        song = long_song(os.path.join(d, "long.wav"))
        return {"model_sha256": model_sha256(),
                "example": fingerprint(EXAMPLE, os.path.join(d, "a")),
                "three_minutes": fingerprint(song, os.path.join(d, "b"))}


if __name__ == "__main__":
    data = compute()
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    with open(PATH, "w") as f:
        json.dump(data, f, indent=0)
    print(f"wrote {PATH}")
