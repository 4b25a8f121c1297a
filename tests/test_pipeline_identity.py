"""Separation output is unchanged by refactors: the example song and a 3-minute file.

The reference is tests/data/separation_fingerprint.json, written by
tests/separation_fingerprint.py from the code and the bundled model; see
that file for what a fingerprint is and when to regenerate it.  The CLI,
the Python API and the web job go through one ``separate_file``; the API
paths are also checked against each other bit for bit.
"""
import json
import os

import numpy as np
import pytest

import separation_fingerprint as fp

sf = pytest.importorskip("soundfile")


@pytest.fixture(scope="module")
def reference():
    with open(fp.PATH) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def current():
    return fp.compute()


def test_reference_is_for_the_bundled_model(reference):
    assert reference["model_sha256"] == fp.model_sha256(), (
        "the bundled model changed: rerun python tests/separation_fingerprint.py "
        "and say so in the commit")


@pytest.mark.parametrize("song", ["example", "three_minutes"])
def test_stems_match_the_reference(reference, current, song):
    for stem in ("vocals", "accompaniment"):
        ref, got = reference[song][stem], current[song][stem]
        assert (got["samples"], got["sr"], got["channels"]) == \
            (ref["samples"], ref["sr"], ref["channels"])
        r, g = np.array(ref["rms"]), np.array(got["rms"])
        assert r.shape == g.shape and r.max() > 0
        assert np.abs(r - g).max() <= 1e-4 * r.max(), (song, stem, np.abs(r - g).max())
        assert abs(got["peak"] - ref["peak"]) <= 1e-4 * ref["peak"]


def test_python_api_and_cli_give_the_same_samples(tmp_path):
    """separate_audio on the decoded array equals the files separate_file writes."""
    from unetvocalsep.separate import Separator
    sep = Separator()
    y, sr = sf.read(fp.EXAMPLE, dtype="float32", always_2d=True)
    arr = sep.separate(y.T, sr)
    out = sep.separate_file(fp.EXAMPLE, str(tmp_path), bits=32, progress=False)
    for stem, path in out.items():
        z, _ = sf.read(path, dtype="float32", always_2d=True)
        assert np.array_equal(z.T, arr[stem]), stem
