"""Command line of ``python -m unetvocalsep.curves``: training curves: read chainer's ``log`` and tell whether a loss has stopped improving.

Only the arguments live here; the work is done by
:mod:`unetvocalsep.training.curves`, whose functions a notebook can call.
"""
import sys

from .errors import UserError
from .signals import run_cli
from .training.curves import describe, plateau, stage_points


def get_parser():
    """The ``python -m unetvocalsep.curves`` argument parser."""
    from .argtypes import Parser, fraction, nonnegative_int

    p = Parser(prog="python -m unetvocalsep.curves",
               description="Has the validation loss stopped improving? Fits a line to the "
                           "last third of the crops seen by one or more consecutive training "
                           "runs and tests its slope (t < -2: still improving).")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="train output folders (log + unet.json), oldest stage first")
    p.add_argument("--crops-before", type=nonnegative_int, default=0,
                   help="crops seen by earlier stages not given (default 0)")
    p.add_argument("--fraction", type=fraction, default=1 / 3,
                   help="the part of the run judged, from its end (default: a third)")
    return p


def _main(argv=None):
    args = get_parser().parse_args(argv)
    x, y = stage_points(args.runs, args.crops_before)
    try:
        res = plateau(x, y, args.fraction)
    except ValueError as e:
        raise UserError(str(e)) from None
    print(f"{x[-1]:,.0f} crops; {describe(res)}")
    if res["start"] < args.crops_before:   # the judged part reaches into stages not given
        print(f"unetvocalsep.curves: note: the last {args.fraction:.2g} of the crops starts at "
              f"crop {res['start']:,.0f}, before the runs given (crop {args.crops_before:,}); "
              f"only their {res['points']} points were judged: give the earlier stages' "
              "folders too, or a smaller --fraction", file=sys.stderr)
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.curves``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.curves")


if __name__ == "__main__":
    raise SystemExit(main())
