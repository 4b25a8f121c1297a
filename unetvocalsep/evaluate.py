"""Command line of ``python -m unetvocalsep.evaluate``: the evaluate CLI: separate a dataset with the model and the baselines, and score it.

Only the arguments live here; the work is done by
:mod:`unetvocalsep.evaluation.evaluate`, whose functions a notebook can call.
"""
import os
import sys

from .errors import UserError, cli_name, stderr_is_terminal
from .evaluation.evaluate import (DATASETS, METHODS, RATES, check_eval_extra, evaluate_dataset,
                                  method_order, method_rates)
from .evaluation.report import write_summary
from .evaluation.results import summary_rows
from .highband import DEFAULT_HIGHBAND, HIGHBANDS
from .signals import run_cli


def get_parser():
    """The ``python -m unetvocalsep.evaluate`` argument parser."""
    from .argtypes import Parser, positive_int

    p = Parser(
        prog="python -m unetvocalsep.evaluate",
        description="Score the separator and baselines with BSS Eval v4 (museval: SDR, SIR, SAR, "
                    "ISR in 1 s windows, median) and NSDR/GNSDR, at 16 kHz mono and at the "
                    "original rate. Writes RESULTS_DIR/<method>/<rate>/<track>.json, "
                    "summary.csv, summary.md and boxplot.png; finished results are reused.")
    p.add_argument("dataset", choices=DATASETS, help="dataset layout of ROOT")
    p.add_argument("root", metavar="ROOT", help="dataset folder")
    p.add_argument("--split", default=None,
                   help="MUSDB18(-HQ): test, train, valid, train+valid, all; DSD100: test, dev, "
                        "all (default: test)")
    p.add_argument("--model", default=None, help="model npz (default: the bundled model)")
    p.add_argument("--method", action="append", choices=METHODS, dest="methods",
                   help="method to run; repeat for several (default: all)")
    p.add_argument("--rate", action="append", choices=RATES, dest="rates",
                   help="evaluation rate; repeat for both (default: 16k and full)")
    p.add_argument("-o", "--results-dir", default="results", help="output folder (default: results)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="tracks in parallel (processes)")
    p.add_argument("--device", default="-1", help="-1 for the CPU, 0 for the first GPU")
    p.add_argument("--max-tracks", type=positive_int, default=None, help="only the first N tracks")
    p.add_argument("--hard-mask", action="store_true", help="the model's binary mask (mask > 0.5)")
    p.add_argument("--highband", default=DEFAULT_HIGHBAND, choices=HIGHBANDS,
                   help=f"the model's mask above the passband edge, as for separate "
                        f"(default {DEFAULT_HIGHBAND})")
    p.add_argument("--wiener", action="store_true", help="the model's stems Wiener-filtered")
    p.add_argument("--overwrite", action="store_true", help="recompute finished results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _main(argv=None):
    args = get_parser().parse_args(argv)
    check_eval_extra()
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.max_tracks is not None and args.max_tracks < 1:
        raise UserError("--max-tracks must be at least 1")

    prog = cli_name("unetvocalsep.evaluate")

    def report(name, msg):
        print(f"{prog}: error: track {name}: {msg}", file=sys.stderr)

    rates = args.rates or RATES
    if not args.no_progress and stderr_is_terminal():
        # what takes the time, said up front (a first run was once taken for a hang)
        print(f"{prog}: scoring {len(method_rates(args.methods or METHODS, rates))} (method, rate) "
              f"pairs per track; BSS Eval at the full rate is the slow part (about 1 s per "
              f"second of 44.1 kHz stereo per method, docs/EVALUATION.md). Finished results "
              f"are kept in {args.results_dir}{os.sep} and reused by a rerun (--overwrite "
              f"recomputes them).", file=sys.stderr)

    results, errors = evaluate_dataset(
        args.dataset, args.root, args.split, methods=args.methods or METHODS,
        rates=rates, model=args.model, results_dir=args.results_dir,
        jobs=args.jobs, device=args.device, max_tracks=args.max_tracks,
        overwrite=args.overwrite, progress=not args.no_progress and stderr_is_terminal(),
        separator_kwargs={"hard_mask": args.hard_mask, "highband": args.highband,
                          "wiener": args.wiener}, on_error=report)
    if results:
        table = write_summary(summary_rows(results), args.results_dir, method_order())
        print(table, end="")
        print(f"results: {args.results_dir}{os.sep} (summary.csv, summary.md, boxplot.png)")
    if errors:
        print(f"{prog}: {len(errors)} track(s) failed: "
              f"{', '.join(n for n, _ in errors)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.evaluate``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.evaluate")


if __name__ == "__main__":
    raise SystemExit(main())
