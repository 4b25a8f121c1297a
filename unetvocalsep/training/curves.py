"""Training curves: read chainer's ``log`` and tell whether a loss has stopped improving.

``python -m unetvocalsep.train`` writes ``OUT/log``, chainer's ``LogReport``
JSON: a list of entries with ``iteration`` and, every four log intervals,
``validation/main/loss``. :func:`read_log` reads one such log,
:func:`stage_points` puts the logs of consecutive stages (each starting from the
previous one's final weights) on one axis of crops seen, and :func:`plateau`
fits a straight line to the last part of the curve: the loss has stopped improving when that line's fall is not
significant (its slope is above ``-2`` standard errors) over the last third.

Examples
--------
>>> import numpy as np
>>> x = np.arange(30.0)
>>> flat = 1e-3 + 1e-6 * np.cos(x)          # noise, no trend
>>> plateau(x, flat)["improving"]
False
>>> plateau(x, 1e-3 - 1e-5 * x)["improving"]
True
"""
import json
import math

import numpy as np

from ..errors import UserError

#: The key of the validation loss in chainer's LogReport.
VALIDATION_KEY = "validation/main/loss"


def read_log(path, key=VALIDATION_KEY):
    """The ``(iteration, value)`` points of one key of a chainer ``log`` file.

    Parameters
    ----------
    path : str
        ``OUT/log`` of a training run.
    key : str

    Returns
    -------
    iterations : numpy.ndarray, shape (points,), int64
    values : numpy.ndarray, shape (points,), float64
        Entries without the key (logged between two evaluations) are skipped.

    Raises
    ------
    UserError
        If the file is missing, is not a LogReport list, or has no such key.
    """
    try:
        with open(path) as f:
            entries = json.load(f)
    except OSError as e:
        raise UserError(f"cannot read the training log {path}: {e.strerror}") from None
    except (ValueError, RecursionError):   # RecursionError: hostile nesting
        raise UserError(f"{path} is not a chainer LogReport log (not JSON)") from None
    if not isinstance(entries, list):
        raise UserError(f"{path} is not a chainer LogReport log (not a list)")
    pts = [(e["iteration"], e[key]) for e in entries
           if isinstance(e, dict) and key in e and "iteration" in e]
    if not pts:
        raise UserError(f"{path} has no {key!r} entries")
    it, val = zip(*pts)
    try:
        return np.asarray(it, dtype=np.int64), np.asarray(val, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"{path} has {key!r} entries that are not numbers") from None


def plateau(x, y, fraction=1 / 3, origin=0.0):
    """Least-squares trend of ``y`` over the last ``fraction`` of ``x``'s range.

    Parameters
    ----------
    x : array_like, shape (points,)
        Position along the run (iterations or crops seen), increasing.
    y : array_like, shape (points,)
        The loss at those positions.
    fraction : float
        The part of the run judged, from its end (default: the last third,
        as issue 12's stopping rule says).
    origin : float
        Where the run started on the ``x`` axis (default 0): the judged part
        is ``x >= origin + (1 - fraction) * (x[-1] - origin)``.

    Returns
    -------
    dict
        ``start`` (first position judged), ``points``, ``mean``, ``slope``
        and ``slope_se`` (per unit of ``x``), ``change`` (the fitted change
        over the judged span, relative to ``mean``), ``t`` (slope over its
        standard error) and ``improving``: True when the fitted line falls
        significantly (``t < -2``).

    Raises
    ------
    ValueError
        With fewer than three points in the judged part, or a loss (or
        position) that is NaN or infinite.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():   # NaN is never a verdict
        raise ValueError(f"the loss is not a finite number at {int(bad.sum())} of {y.size} "
                         f"points (first at {x[np.argmax(bad)]:g}): the run diverged; no verdict")
    start = origin + (1 - fraction) * (x[-1] - origin)
    keep = (x >= start) | np.isclose(x, start)
    xs, ys = x[keep], y[keep]
    if xs.size < 3:
        raise ValueError(f"{xs.size} points in the last {fraction:.2f} of the run; need 3")
    xc = xs - xs.mean()
    sxx = float(np.sum(xc ** 2))
    slope = float(np.sum(xc * (ys - ys.mean())) / sxx)
    resid = ys - ys.mean() - slope * xc
    se = math.sqrt(float(np.sum(resid ** 2)) / (xs.size - 2) / sxx)
    t = slope / se if se > 0 else (-math.inf if slope < 0 else math.inf if slope > 0 else 0.0)
    mean = float(ys.mean())
    return {"start": float(start), "points": int(xs.size), "mean": mean, "slope": slope,
            "slope_se": se, "change": slope * float(xs[-1] - xs[0]) / mean, "t": t,
            "improving": bool(t < -2)}


def stage_points(runs, crops_before=0, key=VALIDATION_KEY):
    """The validation curve of consecutive training stages on one axis of crops seen.

    Parameters
    ----------
    runs : sequence of str
        Output folders of ``python -m unetvocalsep.train`` (each with ``log``
        and ``unet.json``), in training order: each stage started from the
        previous one's final weights.
    crops_before : int
        Crops seen by earlier stages whose logs are not given.
    key : str

    Returns
    -------
    crops : numpy.ndarray, shape (points,), float64
        Crops seen (``crops_before`` + earlier stages + batchsize * processes *
        iteration; ``--batchsize`` is per process in a ChainerMN run).
    values : numpy.ndarray, shape (points,), float64

    Raises
    ------
    UserError
        For a folder without a readable ``log`` or ``unet.json``.
    """
    import os

    from ..model_io import config_path, read_config

    xs, ys = [], []
    done = float(crops_before)
    for run in runs:
        it, val = read_log(os.path.join(run, "log"), key)
        model = os.path.join(run, "unet.npz")
        if not os.path.isfile(config_path(model)):   # read_config would assume the article's
            raise UserError(f"{run} is not a training output folder (no unet.json)")
        cfg = read_config(model)
        batch = int(cfg["batchsize"]) * int(cfg.get("processes", 1))   # per update
        xs.append(done + batch * it.astype(np.float64))
        ys.append(val)
        done += batch * int(cfg.get("iterations", it[-1]))
    return np.concatenate(xs), np.concatenate(ys)


def describe(result):
    """One line for :func:`plateau`'s result (crops as the unit)."""
    verdict = "still improving" if result["improving"] else "stopped improving"
    return (f"{verdict}: {result['points']} points from crop {result['start']:,.0f}, "
            f"mean {result['mean']:.6f}, fitted change {100 * result['change']:+.2f} % "
            f"(t = {result['t']:+.2f})")
