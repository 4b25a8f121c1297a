"""Separation for notebooks and the command line: :func:`separate_audio`, :func:`separate_file`, ``python -m unetvocalsep.separate``.

Both functions wrap a :class:`~unetvocalsep.separator.Separator` (re-exported
here, as the article's ``separate.compute_mask`` is: the documented names),
which loads the model once and does the work; :mod:`unetvocalsep.batch` runs
several files.
"""
import os

from .audio import DEFAULT_MP3_BITRATE, MP3_BITRATES, check_format
from .errors import UserError, cli_name, stderr_is_terminal
from .masking import compute_mask  # noqa: F401  (documented: separate.compute_mask)
from .highband import DEFAULT_HIGHBAND, HIGHBANDS
from .outputs import DEFAULT_FILENAME, FILENAME_FIELDS, check_filename, output_paths
from .pipeline import CHUNK_SECONDS
from .separator import Separator  # noqa: F401  (documented: separate.Separator)
from .signals import run_cli


def separate_audio(y, sr, model=None, hard_mask=False, device=-1, out_sr=None, mono=False, **kwargs):
    """Separate vocals and accompaniment of a signal (for notebooks).

    Parameters
    ----------
    y : numpy.ndarray, shape (samples,) or (channels, samples)
    sr : int
    model : str, UNet, Separator or None
        ``None`` uses the bundled model ``'default'``; ``'free'`` picks the one
        trained on free data only. Pass a :class:`Separator` to avoid
        reloading the model for every call.
    hard_mask : bool
    device : int or str
    out_sr : int or None
    mono : bool
    **kwargs
        Further :class:`Separator` options (``highband``, ``chunk_seconds``...).

    Returns
    -------
    dict
        ``{'vocals': numpy.ndarray, 'accompaniment': numpy.ndarray}`` shaped like ``y``.

    Examples
    --------
    >>> import numpy as np, unetvocalsep
    >>> y = np.random.randn(2, 44100).astype(np.float32) * 0.1
    >>> stems = unetvocalsep.separate_audio(y, 44100)
    >>> stems['vocals'].shape
    (2, 44100)
    >>> bool(abs(stems['vocals'] + stems['accompaniment'] - y).max() < 1e-4)
    True
    """
    sep = model if isinstance(model, Separator) else Separator(
        model, device=device, hard_mask=hard_mask, **kwargs)
    return sep.separate(y, sr, out_sr=out_sr, mono=mono)


def separate_file(path, output_dir="separated", model=None, **kwargs):
    """Separate one file with a (new or given) :class:`Separator`; see :meth:`Separator.separate_file`.

    Parameters
    ----------
    path : str
    output_dir : str
    model : str, UNet, Separator or None
    **kwargs
        Passed to :meth:`Separator.separate_file`.

    Returns
    -------
    dict
        Stem name -> written path.

    Examples
    --------
    >>> import os, tempfile, numpy as np, soundfile as sf
    >>> d = tempfile.mkdtemp()
    >>> sf.write(os.path.join(d, "song.wav"), np.zeros((22050, 2)), 22050)
    >>> out = separate_file(os.path.join(d, "song.wav"), os.path.join(d, "separated"))
    >>> sorted(os.path.relpath(p, d) for p in out.values())
    ['separated/song/accompaniment.wav', 'separated/song/vocals.wav']
    """
    sep = model if isinstance(model, Separator) else Separator(model)
    return sep.separate_file(path, output_dir, **kwargs)


# -- command line -------------------------------------------------------------------------
def get_parser():
    """The ``python -m unetvocalsep.separate`` argument parser."""
    from .argtypes import (Parser, gain_db, nonnegative_float, nonnegative_int,
                           positive_float, sample_rate, vocal_level, window_seconds)
    p = Parser(
        prog="python -m unetvocalsep.separate",
        description="Separate songs into vocals and accompaniment with the U-Net of "
                    "Jansson et al. (2017). Writes OUTPUT_DIR/<track>/vocals.<fmt> and "
                    "accompaniment.<fmt>.")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio files (wav, flac, ogg, mp3, ...), or folders: the audio files "
                        "in them")
    p.add_argument("-o", "--output-dir", default="separated", help="output folder (default: separated)")
    p.add_argument("--filename", default=DEFAULT_FILENAME, metavar="TEMPLATE",
                   help="output name under OUTPUT_DIR, with "
                        + ", ".join("{%s}" % k for k in FILENAME_FIELDS)
                        + f" (default: {DEFAULT_FILENAME.replace('%', '%%')}; for "
                          "<track>/mixture.wav layouts: {parent}/{stem}.{ext})")
    p.add_argument("--stems", default=None, metavar="NAMES",
                   help="write only these stems: vocals, accompaniment or both, comma-separated "
                        "(default: both)")
    p.add_argument("--start", type=nonnegative_float, default=0.0, metavar="SECONDS",
                   help="separate from this time on (default: 0)")
    p.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                   help="separate at most this long an excerpt (default: to the end)")
    p.add_argument("--format", default="wav", choices=["wav", "flac", "ogg", "mp3"],
                   help="output format (default: wav)")
    p.add_argument("--mp3-bitrate", type=int, default=DEFAULT_MP3_BITRATE, metavar="KBPS",
                   choices=MP3_BITRATES,
                   help=f"constant bit rate of mp3 stems, kb/s (default: {DEFAULT_MP3_BITRATE})")
    p.add_argument("--bits", type=int, default=None, choices=[16, 24, 32],
                   help="sample size for wav/flac; 32 = float wav (default: 16, and for wav "
                        "32-bit float for a stem that 16 bits would clip); not for ogg/mp3")
    p.add_argument("--gain", type=gain_db, default=0.0, metavar="DB",
                   help="gain applied to both stems, in dB (default: 0); e.g. --gain -1 makes "
                        "room for stems that peak above full scale in 16-bit, flac, ogg or mp3")
    p.add_argument("--vocal-level", type=vocal_level, default=None, metavar="DB",
                   help="also write mix.<format>: the accompaniment with the vocals at this "
                        "level, -inf or off (none) to 0 dB (the original), e.g. -12 for a "
                        "guide vocal (default: no mix)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--model", default=None, metavar="NAME|PATH",
                   help="a bundled model by name (" + ", ".join(_bundled_names()) + "), or a "
                        "trained npz (default: default, research and non-commercial use only; "
                        "free: trained on free data only)")
    p.add_argument("--hard-mask", action="store_true", help="binary mask: mask > 0.5 -> 1, else 0")
    p.add_argument("--device", default="-1",
                   help="-1 for the CPU, 0 for the first GPU, or chainer's @cupy:0 form (default: -1)")
    p.add_argument("--sr", type=sample_rate, default=None,
                   help="output sample rate (default: the input's); --sr 16000 --mono "
                        "--highband article gives the article's output")
    p.add_argument("--mono", action="store_true", help="mix the input down to mono first")
    p.add_argument("--highband", default=DEFAULT_HIGHBAND, choices=HIGHBANDS,
                   help="mask above the resampler's passband edge (about 7.6 kHz) and above "
                        "8 kHz, where the model sees nothing: 'average' the frame's 4 kHz-edge "
                        "mean (default), 'edge' its mean over the last 1 kHz, 'zero' all to the "
                        "accompaniment, 'article' the network's raw mask up to 8 kHz (the "
                        "article's output at --sr 16000) and the 4-8 kHz mean above")
    p.add_argument("--wiener", action="store_true",
                   help="refine the stems with a multichannel Wiener filter (norbert, as "
                        "Open-Unmix and Spleeter); slower, see docs/HIGHBAND.md")
    p.add_argument("--chunk-seconds", type=window_seconds, default=CHUNK_SECONDS,
                   help=f"length of one processing window (default: {CHUNK_SECONDS:g})")
    p.add_argument("-j", "--jobs", type=nonnegative_int, default=1,
                   help="files separated at once, sharing one model; 0 = as many as the "
                        "cores and the available memory allow (default: 1). A request is "
                        "lowered when the memory is not there")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _bundled_names():
    from .model_io import bundled_models

    return list(bundled_models()) or ["none"]


#: File name endings taken from a folder given as input.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aif",
                    ".aiff", ".wma", ".mp4")


def expand_inputs(paths):
    """The input files: files as given, folders replaced by the audio files in them.

    Parameters
    ----------
    paths : list of str

    Returns
    -------
    list of str
        In order; a folder's files sorted by name (hidden files and other
        extensions skipped, not recursive).

    Raises
    ------
    UserError
        A path that does not exist, a folder without audio files.
    """
    out = []
    for p in paths:
        if p == "-":
            raise UserError("standard input is not supported as input; save the audio to a "
                            "file first")
        if not os.path.exists(p):
            raise UserError(f"no such file or folder: {p}")
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if not f.startswith(".") and f.lower().endswith(AUDIO_EXTENSIONS)
                           and os.path.isfile(os.path.join(p, f)))
            if not found:
                raise UserError(f"no audio files in folder {p} "
                                f"({', '.join(e[1:] for e in AUDIO_EXTENSIONS[:6])}, ...)")
            out += found
        else:
            out.append(p)
    return out


def check_collisions(files, output_dir, fmt, template, mix=False):
    """Raise :class:`UserError` if two inputs would write the same output file.

    The message names a template that separates them when there is one.
    """
    seen = {}
    for f in files:
        for path in output_paths(f, output_dir, fmt, mix=mix, template=template).values():
            other = seen.setdefault(os.path.normpath(path), f)
            if other != f:
                hint = ""
                for t in ("{parent}/{stem}.{ext}", "{parent}/{track}/{stem}.{ext}"):
                    if t != template and len({os.path.normpath(q) for g in files for q in
                                              output_paths(g, output_dir, fmt, mix=mix,
                                                           template=t).values()}) \
                            == len(files) * (3 if mix else 2):
                        hint = f"; name the outputs by folder with --filename '{t}'"
                        break
                raise UserError(f"two inputs would write the same file {path}: {other} and "
                                f"{f}{hint}")


def _main(argv=None):
    args = get_parser().parse_args(argv)
    from . import batch
    check_format(args.format, args.bits)
    check_filename(args.filename)
    stems = None
    if args.stems is not None:
        stems = tuple(dict.fromkeys(s.strip() for s in args.stems.split(",") if s.strip()))
        bad = [s for s in stems if s not in ("vocals", "accompaniment")]
        if bad or not stems:
            raise UserError(f"--stems takes vocals, accompaniment or both, got {args.stems!r}")
    files = expand_inputs(args.files)
    check_collisions(files, args.output_dir, args.format, args.filename,
                     mix=args.vocal_level is not None)
    sep = Separator(args.model, device=args.device, hard_mask=args.hard_mask,
                    highband=args.highband, chunk_seconds=args.chunk_seconds,
                    wiener=args.wiener)
    import sys

    if stderr_is_terminal():  # a person reads this; a script's stderr stays for errors
        print(f"{cli_name('unetvocalsep.separate')}: model {sep.model_info['summary']}",
              file=sys.stderr, flush=True)
    jobs = batch.choose_jobs(args.jobs, len(files))
    if args.jobs and jobs < min(args.jobs, len(files)):
        print(f"{cli_name('unetvocalsep.separate')}: note: -j {args.jobs} lowered to {jobs}: "
              f"{batch.mem_available() / 2 ** 30:.1f} GiB available, about "
              f"{batch.JOB_MEMORY_BYTES / 2 ** 20:.0f} MiB per file", file=sys.stderr)
    failed = batch.separate_files(sep, files, args.output_dir, jobs=jobs, fmt=args.format,
                                  bits=args.bits, overwrite=args.overwrite, out_sr=args.sr,
                                  mono=args.mono,
                                  progress=not args.no_progress and stderr_is_terminal(),
                                  gain_db=args.gain, vocal_level_db=args.vocal_level,
                                  stems=stems, filename=args.filename, start=args.start,
                                  duration=args.duration, mp3_bitrate=args.mp3_bitrate)
    return 1 if failed else 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.separate``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.separate")


if __name__ == "__main__":
    raise SystemExit(main())
