"""``python -m unetvocalsep.synth``: write a synthetic multitrack corpus.

Writes ``OUT/synth_<seed>_<index>/{mixture,vocals,accompaniment}.wav``
(44.1 kHz stereo float32, mixture = vocals + accompaniment exactly) and a
``meta.json`` per track.  Existing tracks are skipped unless ``--overwrite``.
"""
import sys

from ..signals import run_cli

PROG = "python -m unetvocalsep.synth"


def get_parser():
    """Build the command-line parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    from ..argtypes import Parser, nonnegative_int, positive_float, positive_int
    from .cache import default_cache_dir
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0].split(": ", 1)[-1])
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder (one sub-folder per track)")
    p.add_argument("--tracks", type=positive_int, required=True, help="number of tracks")
    p.add_argument("--seconds", type=positive_float, default=30.0, help="track length (default 30)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="corpus seed (default 0)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="regenerate tracks that already exist")
    p.add_argument("--cache-dir", default=None,
                   help=f"analysis cache (default {default_cache_dir()})")
    p.add_argument("--klettres-dir", default="/usr/share/klettres",
                   help="KLettres data root (default /usr/share/klettres)")
    p.add_argument("--soundfont", action="append", default=None, metavar="SF2",
                   help="sound font to render with (repeatable; default FluidR3_GM and "
                        "TimGM6mb)")
    p.add_argument("--language", action="append", default=None, metavar="LANG",
                   help="KLettres language to sing (repeatable; default it and es; "
                        "fr, de, en and en_GB are reserved)")
    p.add_argument("--real", metavar="PROFILE", default=None,
                   choices=("train", "leak", "voice"),
                   help="make songs over real recorded music instead (16 kHz mono): "
                        "train = training sources, leak = instrumental tracks of the "
                        "held-out package, voice = held-out voices over it "
                        "(docs/MODEL.md)")
    p.add_argument("--first", type=nonnegative_int, default=0,
                   help="index of the first track (default 0)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def _main(argv):
    args = get_parser().parse_args(argv)
    from . import generate_corpus
    res = generate_corpus(args.output, args.tracks, args.seconds, args.seed, jobs=args.jobs,
                          overwrite=args.overwrite, cache_dir=args.cache_dir,
                          klettres_dir=args.klettres_dir, soundfonts=args.soundfont,
                          progress=not args.quiet, languages=args.language,
                          profile=args.real, first=args.first)
    if not args.quiet:
        print(f"{len(res['written'])} track(s) written, {len(res['skipped'])} skipped "
              f"(already there) in {args.output}", file=sys.stderr)
    return 0


def main(argv=None):
    """Run the CLI.

    Parameters
    ----------
    argv : list of str or None
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    return run_cli(_main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
