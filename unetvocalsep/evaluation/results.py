"""Scores on disk: one JSON per track, method and rate, and the rows of the summary table.

Results are written as they are computed, so that an interrupted
``evaluate`` resumes where it stopped.

Examples
--------
>>> result_path('results', 'unet', '16k', 'A Song')
'results/unet/16k/A Song.json'
"""
import json
import os

from ..files import atomic_path
from .metrics import METRICS, TARGETS, finite_or_nan


def result_path(results_dir, method, rate, track_name):
    """``RESULTS_DIR/<method>/<rate>/<track>.json``.

    Parameters
    ----------
    results_dir, method, rate, track_name : str

    Returns
    -------
    str
    """
    return os.path.join(os.fspath(results_dir), method, rate, track_name + ".json")


def read_result(path):
    """A per-track JSON written by :func:`evaluate_track`, or None if missing or unreadable."""
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(res, dict) or "median" not in res or "targets" not in res:
        return None
    return res


def write_result(path, result):
    """Write one result JSON atomically (NaN written as museval does: ``NaN``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


def result_rows(result):
    """The summary.csv rows of one result (one per target).

    Parameters
    ----------
    result : dict

    Returns
    -------
    list of dict
        Keys :data:`CSV_COLUMNS`.
    """
    rows = []
    for t in TARGETS:
        med = result["median"].get(t, {})
        rows.append({"method": result["method"], "rate": result["rate"], "track": result["track"],
                     "target": t, **{m: finite_or_nan(med.get(m, float("nan"))) for m in METRICS},
                     "NSDR": finite_or_nan(result["NSDR"].get(t, float("nan"))),
                     "energy_db": finite_or_nan(result.get("energy_db", {}).get(t, float("nan"))),
                     "reference_silent": float(bool(result.get("reference_silent", {}).get(t))),
                     "seconds": float(result.get("seconds", float("nan"))),
                     "duration": float(result.get("duration", float("nan")))})
    return rows


def summary_rows(results):
    """The rows of every result, sorted by method, rate and track.

    Parameters
    ----------
    results : list of dict
        From :func:`evaluate_track` / :func:`evaluate_dataset`.

    Returns
    -------
    list of dict
        :func:`result_rows` of each, ready for :mod:`unetvocalsep.evaluation.report`.
    """
    return [row for res in sorted(results, key=lambda r: (r["method"], r["rate"], r["track"]))
            for row in result_rows(res)]
