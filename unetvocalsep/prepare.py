"""Command line of ``python -m unetvocalsep.prepare``: build the training cache from multitrack datasets: ``python -m unetvocalsep.prepare``.

Only the arguments live here; the work is done by
:mod:`unetvocalsep.training.prepare`, whose functions a notebook can call.
"""
import sys

from .training.datasets import DATASETS
from .errors import UserError, stderr_is_terminal
from .signals import run_cli
from .training.pairs import MAX_OFFSET_S as MAX_PAIR_OFFSET_S
from .training.prepare import format_summary, prepare


def get_parser():
    """The ``python -m unetvocalsep.prepare`` argument parser."""
    from .argtypes import Parser, finite_float, nonnegative_int, positive_float, positive_int

    p = Parser(
        prog="python -m unetvocalsep.prepare",
        description="Build the training cache (16 kHz magnitudes of mix/vocals/accompaniment, "
                    "all divided by the maximum of the mix) from a multitrack dataset. "
                    "See data/README.md for the layouts and recipes.")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("root", help="dataset folder (DSD100/, musdb18/, musdb18hq/, iKala/, MedleyDB/, ...)")
    p.add_argument("-o", "--out", required=True, help="cache folder (created; existing tracks are kept)")
    p.add_argument("--split", default=None,
                   help="dsd100: dev (default) | test | all; musdb18/musdb18hq: train (default, "
                        "without the 14 validation tracks) | valid | test | train+valid | all")
    p.add_argument("--random-mixes", type=nonnegative_int, default=0, metavar="N",
                   help="add N re-mixes: vocals of one track over the accompaniment of another")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the random mixes (default 0)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="tracks prepared in parallel (default 1)")
    p.add_argument("--overwrite", action="store_true", help="recompute tracks already in the cache")
    p.add_argument("--pitch-shift", type=finite_float, nargs="+", default=[], metavar="SEMITONES",
                   help="add pitch-shifted copies (e.g. --pitch-shift -2 2)")
    p.add_argument("--time-stretch", type=positive_float, nargs="+", default=[], metavar="RATE",
                   help="add time-stretched copies (e.g. --time-stretch 0.9 1.1)")
    p.add_argument("--csv", default=None, help="pairs: CSV with columns song,instrumental (paths from ROOT)")
    p.add_argument("--max-offset", type=positive_float, default=MAX_PAIR_OFFSET_S, metavar="SECONDS",
                   help=f"pairs: alignment search range (default {MAX_PAIR_OFFSET_S:g} s)")
    p.add_argument("--metadata", default=None, metavar="DIR",
                   help="medleydb: folder of <Track>_METADATA.yaml (default: track folders, ROOT/Metadata)")
    p.add_argument("--prefix", default="", help="prepended to every cache name")
    p.add_argument("--no-progress", action="store_true")
    return p


def _main(argv=None):
    args = get_parser().parse_args(argv)
    if args.random_mixes < 0:
        raise UserError("--random-mixes must be >= 0")
    summary = prepare(args.dataset, args.root, args.out, split=args.split,
                      random_mixes_n=args.random_mixes, seed=args.seed, jobs=args.jobs,
                      overwrite=args.overwrite, pitch_shifts=args.pitch_shift,
                      time_stretches=args.time_stretch, csv_file=args.csv,
                      metadata_dir=args.metadata, prefix=args.prefix,
                      max_offset_s=args.max_offset,
                      progress=not args.no_progress and stderr_is_terminal())
    line = format_summary(summary)
    if summary["failed"]:
        print(line, file=sys.stderr)
        return 1
    print(line)
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.prepare``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.prepare")


if __name__ == "__main__":
    raise SystemExit(main())
