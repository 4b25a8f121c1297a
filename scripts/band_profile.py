#!/usr/bin/env python3
"""Where in frequency each model's vocals are too quiet or too loud (issue 26).

One median can hide a hole in a band (``scripts/band_energy.py`` gives one band).
This compares, in every band of ``--step`` Hz up to ``--top`` Hz, the energy of
each method's vocal estimate with the true vocals' (``10 log10(E_est / E_true)``,
at the mixture's own rate and channels, each model at its default settings), and
takes the median over the tracks. It writes a figure: the medians against
frequency, and the spectrograms of one track's true vocals and of each model's
estimate.

Usage::

    python scripts/band_profile.py musdb18 MUSDB_DIR --split test \\
        --model free --model default --model new=/path/to/new.npz --irm \\
        --plot docs/model-singing-bands.png [--show 'Track name']

Prints a Markdown table of the medians over wider bands (0-1, 1-2, 2-4, 4-5.5,
5.5-7.7, 7.7-8 and 8-11 kHz) and, since a hole can come and go within a track,
the share of the frames where the true vocals have energy at 5.5-7.7 kHz (within
30 dB of the track's loudest frame there) but the estimate is more than 20 dB
under them (median and upper quartile over the tracks), then the tracks with the
most holes and whether the accompaniment is louder in the band in the hole frames
than in the other voiced frames (it is not, for the models of issue 26).
"""
import argparse
import sys

import numpy as np

from unetvocalsep.evaluation.bands import (HOLE_BAND, HOLE_DB, band_ratio_db, band_sums,
                                           hole_frames, ratio_db, share_of, spectrogram)
from unetvocalsep.evaluation.evaluate import list_tracks, load_track, separate_with
from unetvocalsep.separator import Separator

WIDE = ((0, 1000), (1000, 2000), (2000, 4000), (4000, 5500), (5500, 7700), (7700, 8000),
        (8000, 11000))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset")
    p.add_argument("root")
    p.add_argument("--split", default=None)
    p.add_argument("--model", action="append", default=[], metavar="[LABEL=]MODEL",
                   help="a bundled name or an npz, repeatable")
    p.add_argument("--irm", action="store_true", help="the 16 kHz ideal ratio mask too")
    p.add_argument("--step", type=float, default=250.0)
    p.add_argument("--top", type=float, default=11000.0)
    p.add_argument("--max-tracks", type=int, default=None)
    p.add_argument("--worst", type=int, default=5, help="how many tracks with holes to name")
    p.add_argument("--plot", default=None, help="write the figure here (png)")
    p.add_argument("--show", default=None, help="the track whose spectrograms are drawn "
                                                "(default: the first)")
    args = p.parse_args(argv)
    methods = []
    for m in args.model or ["default"]:
        label, _, path = m.rpartition("=")
        methods.append((label or path, "unet", Separator(path)))
    if args.irm:
        methods.append(("16 kHz ideal ratio mask", "irm", None))
    edges = np.arange(0.0, args.top + args.step / 2, args.step)
    wide_edges = [lo for lo, _ in WIDE] + [WIDE[-1][1]]
    fine = {label: [] for label, _, _ in methods}
    wide = {label: [] for label, _, _ in methods}
    holes = {label: [] for label, _, _ in methods}
    # accompaniment over true vocals in the band, in hole frames and in the other voiced ones
    acc_db = {label: ([], []) for label, _, _ in methods}
    tracks = list_tracks(args.dataset, args.root, args.split)[:args.max_tracks]
    shown = None
    for t in tracks:
        mix, voc, acc, sr = load_track(t)
        f, true_frames = spectrogram(voc, sr)
        _, acc_frames = spectrogram(acc, sr)
        acc_over_voc = band_ratio_db(f, acc_frames, true_frames)
        true = true_frames.sum(axis=1)
        true_fine, true_wide = band_sums(f, true, edges), band_sums(f, true, wide_edges)
        keep = shown is None and (args.show is None or t.name == args.show)
        if keep:
            shown = {"name": t.name, "sr": sr, "true": voc}
        for label, method, sep in methods:
            est, _ = separate_with(method, mix, voc, acc, sr, "full", sep)
            _, e_frames = spectrogram(est, sr)
            e = e_frames.sum(axis=1)
            voiced, hole = hole_frames(f, e_frames, true_frames)
            holes[label].append(share_of(voiced, hole))
            acc_db[label][0].extend(acc_over_voc[hole])
            acc_db[label][1].extend(acc_over_voc[voiced & ~hole])
            fine[label].append(ratio_db(band_sums(f, e, edges), true_fine))
            wide[label].append(ratio_db(band_sums(f, e, wide_edges), true_wide))
            if keep:
                shown[label] = est
    print(f"vocal energy of the estimate against the true vocals, median over {len(tracks)} "
          "tracks (dB)\n")
    print("| method | " + " | ".join(f"{lo / 1000:g}-{hi / 1000:g} kHz" for lo, hi in WIDE) + " |")
    print("|---|" + "---:|" * len(WIDE))
    for label in wide:
        med = np.nanmedian(np.array(wide[label]), axis=0)
        print(f"| {label} | " + " | ".join(f"{v:+.1f}" for v in med) + " |")
    print(f"\nframes with true vocals at {HOLE_BAND[0] / 1000:g}-{HOLE_BAND[1] / 1000:g} kHz where "
          f"the estimate is more than {HOLE_DB:g} dB under them (median / upper quartile over the "
          "tracks)\n")
    for label, v in holes.items():
        v = np.array(v, float)
        print(f"- {label}: {100 * np.nanmedian(v):.1f} % / {100 * np.nanpercentile(v, 75):.1f} %")
    print("\ntracks with the most holes, and the accompaniment over the true vocals in the band "
          "(dB, median and quartiles) in the hole frames against the other voiced frames\n")
    for label, v in holes.items():
        worst = sorted(zip(v, (t.name for t in tracks)), key=lambda x: -np.nan_to_num(x[0]))
        worst = [f"{name} {100 * share:.0f} %" for share, name in worst[:args.worst] if share > 0]
        in_hole, other = (np.array(x, float) for x in acc_db[label])
        q = (lambda x: "{:+.1f} ({:+.1f} / {:+.1f})".format(*np.percentile(x, [50, 25, 75]))
             if len(x) else "none")
        print(f"- {label}: {', '.join(worst) or 'no holes'}; accompaniment over vocals: holes "
              f"{q(in_hole)}, other voiced frames {q(other)}")
    if args.plot:
        plot(args.plot, edges, {k: np.nanmedian(np.array(v), axis=0) for k, v in fine.items()},
             shown, [label for label, _, _ in methods], args.top, len(tracks))
    return 0


def plot(path, edges, medians, shown, labels, top, n_tracks):
    """The median curves over the spectrograms of one track (true vocals, then each estimate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scipy.signal

    panels = ["true"] + [lb for lb in labels if lb in shown]
    fig = plt.figure(figsize=(11, 4 + 2.2 * len(panels)))
    grid = fig.add_gridspec(1 + len(panels), 1, height_ratios=[2.2] + [1] * len(panels))
    ax = fig.add_subplot(grid[0])
    centres = (edges[:-1] + edges[1:]) / 2000
    for label in labels:
        ax.plot(centres, medians[label], label=label)
    ax.axvspan(5.5, 7.7, color="0.85", zorder=0, label="5.5-7.7 kHz (issue 26)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlim(0, top / 1000)
    ax.set_ylim(-40, 10)
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("estimate / true vocals (dB)")
    ax.set_title(f"vocal energy per {edges[1] - edges[0]:g} Hz band, median over {n_tracks} tracks")
    ax.legend(loc="lower left", fontsize=8)
    sr = shown["sr"]
    ref = None
    for i, name in enumerate(panels):
        y = np.asarray(shown[name], np.float64).mean(axis=0)
        f, t, z = scipy.signal.stft(y, fs=sr, nperseg=2048, noverlap=1536)
        db = 20 * np.log10(np.abs(z) + 1e-9)
        ref = db.max() if ref is None else ref   # every panel on the true vocals' scale
        a = fig.add_subplot(grid[1 + i])
        a.pcolormesh(t, f / 1000, db, vmin=ref - 80, vmax=ref, shading="auto", cmap="magma")
        a.set_ylim(0, top / 1000)
        a.set_ylabel("kHz")
        a.text(0.01, 0.85, f"{shown['name']}: " + ("true vocals" if name == "true" else name),
               transform=a.transAxes, color="w", fontsize=9)
    a.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    sys.exit(main())
