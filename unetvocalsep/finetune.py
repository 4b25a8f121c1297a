"""Command line of ``python -m unetvocalsep.finetune``: fine-tune a model on your own song + instrumental pairs, and say honestly whether it helped.

Only the arguments live here; the work is done by
:mod:`unetvocalsep.training.finetune`, whose functions a notebook can call.
"""
import os

from .signals import run_cli
from .training.finetune import BATCHSIZE, MINUTES, MIN_ITERATIONS, PASSES, PATIENCE, VAL_FRACTION, finetune


def get_parser():
    """The ``python -m unetvocalsep.finetune`` argument parser."""
    from .argtypes import Parser, nonnegative_int, positive_float, positive_int
    from .training.pairs import MAX_OFFSET_S

    p = Parser(prog="python -m unetvocalsep.finetune",
               description="Fine-tune the bundled model (or --init-model) on your own songs and "
                           "their instrumental versions; report whether it helped on held-out "
                           "audio. A FOLDER holds <name>.<ext> + <name>_instrumental.<ext>.")
    p.add_argument("folder", nargs="?", default=None, metavar="FOLDER",
                   help="folder of <name>.<ext> + <name>_instrumental.<ext> pairs")
    p.add_argument("--pair", nargs=2, action="append", default=[], metavar=("SONG", "INSTRUMENTAL"),
                   help="a song and its instrumental (repeatable)")
    p.add_argument("-o", "--out", required=True, help="output folder (unet.npz, report.md, ...)")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help=f"training time budget (default: {PASSES} passes of crops over your "
                        f"training audio, at least {MIN_ITERATIONS} iterations, at most "
                        f"{MINUTES:g} minutes)")
    p.add_argument("--max-iterations", type=positive_int, default=None, metavar="N",
                   help="also stop after N iterations, whichever budget ends first")
    p.add_argument("--init-model", default=None, help="start from this model (default: bundled)")
    p.add_argument("-d", "--device", default="-1", help="-1 CPU (default), 0 first GPU")
    p.add_argument("--targets", default="difference", choices=["difference", "article"],
                   help="vocal target: the time-domain residual song - gain * instrumental "
                        "(default), or the article's max(0, |song| - |instrumental|)")
    p.add_argument("--val-fraction", type=positive_float, default=VAL_FRACTION,
                   help=f"held-out end of each pair (default {VAL_FRACTION:g})")
    p.add_argument("-b", "--batchsize", type=positive_int, default=BATCHSIZE,
                   help=f"(default {BATCHSIZE}, which trains faster per minute on a CPU than 64)")
    p.add_argument("--patience", type=positive_int, default=PATIENCE,
                   help=f"validations without improvement before stopping early (default {PATIENCE})")
    p.add_argument("--max-offset", type=positive_float, default=MAX_OFFSET_S, metavar="SECONDS",
                   help=f"alignment search range (default {MAX_OFFSET_S:g} s)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in OUT")
    p.add_argument("--keep-snapshot", action="store_true",
                   help="keep OUT/snapshot, best.npz and the cache after a finished run (to "
                        "--resume it with more time)")
    p.add_argument("--float32", action="store_true",
                   help="store unet.npz in float32 (default: float16, half the size)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _main(argv=None):
    from .training.pairs import find_pairs

    args = get_parser().parse_args(argv)
    pairs = [tuple(p) for p in args.pair]
    if args.folder is not None:
        pairs += find_pairs(args.folder)
    finetune(pairs, args.out, minutes=args.minutes, init_model=args.init_model, device=args.device,
             rule=args.targets, val_fraction=args.val_fraction, batchsize=args.batchsize,
             patience=args.patience, resume=args.resume, overwrite=args.overwrite,
             progress=not args.no_progress, seed=args.seed, max_offset_s=args.max_offset,
             max_iterations=args.max_iterations, keep_snapshot=args.keep_snapshot,
             float16=not args.float32)
    print(f"model written to {os.path.join(args.out, 'unet.npz')}; report in "
          f"{os.path.join(args.out, 'report.md')}")
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.finetune``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.finetune")


if __name__ == "__main__":
    raise SystemExit(main())
