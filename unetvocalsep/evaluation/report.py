"""Summaries of evaluation results: CSV, markdown table, box plot.

Examples
--------
>>> rows = [{"method": "unet", "rate": "16k", "track": "a", "target": "vocals", "SDR": 5.0,
...          "SIR": 9.0, "SAR": 6.0, "ISR": 8.0, "NSDR": 7.0, "seconds": 1.0, "duration": 30.0}]
>>> print(markdown_table(summarise(rows)).splitlines()[0][:30])
| method | rate | tracks | voc
"""
import math
import os

import numpy as np

from ..files import atomic_path
from .metrics import METRICS, TARGETS, finite_or_nan, nanmedian

#: Columns of summary.csv.
CSV_COLUMNS = ("method", "rate", "track", "target", "SDR", "SIR", "SAR", "ISR", "NSDR",
               "energy_db", "reference_silent", "seconds", "duration")


def summarise(rows, order=()):
    """Median over tracks of the per-track medians, and GNSDR, per (method, rate).

    Parameters
    ----------
    rows : list of dict
        :func:`unetvocalsep.evaluate.result_rows` of every result.
    order : sequence of (method, rate)
        Table order; groups not listed come last.

    Returns
    -------
    list of dict
        In table order: ``method``, ``rate``, ``tracks``, ``<target> <metric>``
        (median over tracks, NaN tracks ignored), ``GNSDR <target>``
        (``sum(duration * NSDR) / sum(duration)`` over tracks with a finite
        NSDR), ``<target> leak`` / ``<target> leak worst`` (median and
        highest energy of the estimate relative to the mixture over the
        tracks whose reference is silent; NaN if none) and ``seconds per
        track`` (mean).
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["rate"]), []).append(r)
    order = {p: i for i, p in enumerate(order)}
    out = []
    for key in sorted(groups, key=lambda k: order.get(k, len(order))):
        g = groups[key]
        s = {"method": key[0], "rate": key[1], "tracks": len({r["track"] for r in g})}
        for t in TARGETS:
            gt = [r for r in g if r["target"] == t]
            for m in METRICS:
                s[f"{t} {m}"] = finite_or_nan(nanmedian([r[m] for r in gt])) if gt else float("nan")
            ok = [r for r in gt if math.isfinite(r["NSDR"]) and r["duration"] > 0]
            w = sum(r["duration"] for r in ok)
            s[f"GNSDR {t}"] = sum(r["duration"] * r["NSDR"] for r in ok) / w if w else float("nan")
            # Tracks without this source (instrumentals for the vocals): how
            # much the method puts there anyway, relative to the mixture.
            leak = [r["energy_db"] for r in gt if r.get("reference_silent")
                    and math.isfinite(r.get("energy_db", float("nan")))]
            s[f"{t} leak"] = float(np.median(leak)) if leak else float("nan")
            s[f"{t} leak worst"] = float(max(leak)) if leak else float("nan")
            s[f"{t} leak tracks"] = len(leak)
        per_track = {}
        for r in g:
            per_track[r["track"]] = r["seconds"]
        s["seconds per track"] = float(np.mean(list(per_track.values()))) if per_track else float("nan")
        out.append(s)
    return out


def markdown_table(summary):
    """The results table in Markdown.

    Parameters
    ----------
    summary : list of dict
        From :func:`summarise`.

    Returns
    -------
    str
    """
    head = ["method", "rate", "tracks", "voc SDR", "voc SIR", "voc SAR", "acc SDR", "acc SIR",
            "acc SAR", "GNSDR voc", "GNSDR acc", "s/track"]
    keys = ["vocals SDR", "vocals SIR", "vocals SAR", "accompaniment SDR", "accompaniment SIR",
            "accompaniment SAR", "GNSDR vocals", "GNSDR accompaniment"]
    if any(s.get("vocals leak tracks") for s in summary):
        head[-1:-1] = ["voc leak", "voc leak worst"]
        keys += ["vocals leak", "vocals leak worst"]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    for s in summary:
        cells = [s["method"], s["rate"], str(s["tracks"])]
        cells += [_fmt(s.get(k, float("nan"))) for k in keys] + [f"{s['seconds per track']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: A figure at or above this many dB is shown as ``inf``: an estimate that *is*
#: its reference (the mixture's SAR: it has no artifacts) scores a number
#: set by float rounding (136, 265 dB...), not a measurement.
INF_DB = 100.0


def _fmt(x, digits=2):
    if math.isfinite(x) and x >= INF_DB or x == math.inf:
        return "inf"
    return f"{x:.{digits}f}" if math.isfinite(x) else "nan"


def write_csv(rows, path):
    """Write summary.csv atomically (columns :data:`CSV_COLUMNS`)."""
    import csv

    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for r in rows:
                w.writerow([r[c] if isinstance(r[c], str) else f"{r[c]:.4f}" for c in CSV_COLUMNS])


def read_csv(path):
    """Read a summary.csv back into rows.

    Parameters
    ----------
    path : str

    Returns
    -------
    list of dict
    """
    import csv

    with open(path, newline="") as f:
        rows = [{k: (v if k in ("method", "rate", "track", "target") else float(v))
                 for k, v in row.items()} for row in csv.DictReader(f)]
    for r in rows:      # files written before these columns existed
        r.setdefault("energy_db", float("nan"))
        r.setdefault("reference_silent", 0.0)
    return rows


def boxplot(rows, path, target="vocals", metric="SDR"):
    """Box plot of per-track median ``metric`` of ``target`` per (method, rate), as PNG.

    Parameters
    ----------
    rows : list of dict
    path : str
    target : str
    metric : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, data = [], []
    for s in summarise(rows):
        vals = [r[metric] for r in rows if r["method"] == s["method"] and r["rate"] == s["rate"]
                and r["target"] == target and math.isfinite(r[metric])]
        labels.append(f"{s['method']}\n{s['rate']}")
        data.append(vals or [float("nan")])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1), 4.0))
    ax.boxplot(data, showmeans=False)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(f"{target} {metric} (dB, median over 1 s windows)")
    ax.set_title(f"{target} {metric} per track (BSS Eval v4)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_summary(rows, results_dir, order=()):
    """Write summary.csv, summary.md and boxplot.png; return the Markdown table.

    Parameters
    ----------
    rows : list of dict
        :func:`unetvocalsep.evaluate.result_rows` of every result.
    results_dir : str
    order : sequence of (method, rate)
        Table order (see :func:`summarise`).

    Returns
    -------
    str
    """
    write_csv(rows, os.path.join(results_dir, "summary.csv"))
    table = markdown_table(summarise(rows, order))
    with atomic_path(os.path.join(results_dir, "summary.md"), overwrite=True) as tmp:
        with open(tmp, "w") as f:
            f.write("Median over tracks of the per-track median over 1 s windows (BSS Eval v4, dB); "
                    "GNSDR: length-weighted mean NSDR (whole-track mono BSS Eval v3, dB).\n\n")
            f.write(table)
    if rows:
        boxplot(rows, os.path.join(results_dir, "boxplot.png"))
    return table
