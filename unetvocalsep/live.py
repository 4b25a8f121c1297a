"""``python -m unetvocalsep.live``: separate a stream (a pipe or a sound card) as it plays.

Only the command line lives here: reading and writing the stream
(:func:`run_pipe`, :func:`run_devices`) around a
:class:`~unetvocalsep.streaming.LiveSeparator`, which does the work and
whose module explains the latency and the normalisation (docs/LIVE.md has
the measurements).
"""
import sys
import time

import numpy as np

from .errors import UserError
from .highband import DEFAULT_HIGHBAND, HIGHBANDS
from .outputs import vocal_mix
from .signals import run_cli
from .streaming import LATENCY, MAX_LATENCY, MIN_LATENCY, LiveSeparator


# -- the command line ---------------------------------------------------------------------
PROG = "unetvocalsep.live"
STEM_CHOICES = ("mix", "vocals", "accompaniment")
#: Frames per block read from a pipe.
BLOCK = 1024


def pick(vocals, accompaniment, stem, vocal_level_db=float("-inf")):
    """One output from the two stems: ``mix`` is accompaniment + vocals at a level.

    Parameters
    ----------
    vocals, accompaniment : numpy.ndarray
    stem : {'mix', 'vocals', 'accompaniment'}
    vocal_level_db : float
        Gain of the vocals in the mix, -inf (karaoke) to 0 (the original).

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> v, a = np.ones(3), np.full(3, 2.0)
    >>> pick(v, a, "mix").tolist(), pick(v, a, "mix", 0.0).tolist()
    ([2.0, 2.0, 2.0], [3.0, 3.0, 3.0])
    """
    if stem == "vocals":
        return vocals
    if stem == "accompaniment":
        return accompaniment
    return vocal_mix(vocals, accompaniment, vocal_level_db)


def get_parser():
    """Build the command-line parser.

    Returns
    -------
    argparse.ArgumentParser
    """
    from .argtypes import Parser, positive_int, vocal_level

    def latency(text):
        import argparse
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not MIN_LATENCY <= v <= MAX_LATENCY:
            raise argparse.ArgumentTypeError(
                f"the latency must be {MIN_LATENCY} to {MAX_LATENCY} s, got {text}")
        return v

    p = Parser(prog="python -m unetvocalsep.live",
               description="Separate a live stream: raw float32 PCM on stdin/stdout, or a "
                           "sound card (the [live] extra), delayed by --latency.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", metavar="-", help="'-': interleaved float32 little-endian "
                     "PCM on stdin")
    src.add_argument("--input-device", metavar="DEV", help="a sound card (see --list-devices)")
    dst = p.add_mutually_exclusive_group()
    dst.add_argument("--output", metavar="-", help="'-': the same format on stdout")
    dst.add_argument("--output-device", metavar="DEV", help="a sound card")
    p.add_argument("--list-devices", action="store_true", help="list the sound cards and exit")
    p.add_argument("--rate", type=positive_int, default=44100, help="sample rate (default 44100)")
    p.add_argument("--channels", type=positive_int, default=2, help="channels (default 2)")
    p.add_argument("--latency", type=latency, default=LATENCY,
                   help=f"delay of the output, {MIN_LATENCY}-{MAX_LATENCY} s (default {LATENCY})")
    p.add_argument("--stem", choices=STEM_CHOICES, default="mix",
                   help="what to output: mix (accompaniment + vocals at --vocal-level; the "
                        "default), vocals or accompaniment")
    p.add_argument("--vocal-level", type=vocal_level, default=float("-inf"), metavar="DB",
                   help="vocals in the mix, -inf (karaoke, the default) to 0 dB (the original)")
    p.add_argument("--model", default=None, help="npz model (default: the bundled one)")
    p.add_argument("--highband", default=DEFAULT_HIGHBAND, choices=HIGHBANDS,
                   help="mask above the passband edge (about 7.6 kHz), as for separate "
                        f"(default {DEFAULT_HIGHBAND})")
    p.add_argument("--wiener", action="store_true",
                   help="refine each stretch with a multichannel Wiener filter (more CPU)")
    p.add_argument("--block", type=positive_int, default=BLOCK,
                   help=f"frames per read from a pipe (default {BLOCK})")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    return p


def _fill(f, buf, n):
    """Read into ``buf`` until it holds ``n`` bytes; False when the stream ended first.

    What is read stays in ``buf`` if a signal interrupts the wait, so the
    caller can still separate it.
    """
    while len(buf) < n:
        b = f.read1(n - len(buf)) if hasattr(f, "read1") else f.read(n - len(buf))
        if not b:
            return False
        buf += b
    return True


def run_pipe(live, inp, out, stem="mix", vocal_level_db=float("-inf"), block=BLOCK):
    """Stream raw float32 PCM from ``inp`` to ``out`` until the input ends or Ctrl-C.

    The output is the input delayed by ``live.delay`` samples, and at the end
    the ``delay`` samples still inside are pushed out too, so it is
    ``delay`` samples longer than the input.

    Parameters
    ----------
    live : LiveSeparator
    inp, out : binary file objects
    stem, vocal_level_db : see :func:`pick`
    block : int
        Frames per read.

    Returns
    -------
    dict
        ``frames_in``, ``frames_out``, ``stopped`` ('end', 'interrupted' or
        'output closed'), ``dropped_bytes`` (an incomplete last frame).
    """
    ch = live.channels
    frame = 4 * ch
    res = {"frames_in": 0, "frames_out": 0, "stopped": "end", "dropped_bytes": 0}

    def emit(v, a):
        y = pick(v, a, stem, vocal_level_db)
        out.write(np.ascontiguousarray(y.T, dtype="<f4").tobytes())
        out.flush()
        res["frames_out"] += y.shape[1]

    buf = bytearray()

    def separate_whole_frames():
        whole = len(buf) // frame * frame
        if whole:
            x = np.frombuffer(bytes(buf[:whole]), dtype="<f4").reshape(-1, ch).T
            del buf[:whole]
            res["frames_in"] += x.shape[1]
            emit(*live.process(x))

    try:
        try:
            while _fill(inp, buf, block * frame):
                separate_whole_frames()
            separate_whole_frames()
        except KeyboardInterrupt:          # Ctrl-C or SIGTERM: stop, but flush
            res["stopped"] = "interrupted"
            separate_whole_frames()        # the part of a block read before the signal
        res["dropped_bytes"] = len(buf)
        emit(*live.flush())
    except BrokenPipeError:
        res["stopped"] = "output closed"
    return res


def list_devices():
    """The sound cards PortAudio sees, one line each (needs the [live] extra)."""
    return str(_sounddevice().query_devices())


def _sounddevice():
    try:
        import sounddevice
    except ImportError as exc:
        raise UserError("sound cards need the [live] extra: pip install 'unetvocalsep[live]' "
                        f"(and the PortAudio library, e.g. apt install libportaudio2): {exc}"
                        ) from None
    except OSError as exc:                 # sounddevice without PortAudio
        raise UserError(f"PortAudio is missing (apt install libportaudio2): {exc}") from None
    return sounddevice


def _device(text):
    return int(text) if text is not None and text.lstrip("-").isdigit() else text


def run_devices(live, input_device=None, output_device=None, stem="mix",
                vocal_level_db=float("-inf")):
    """Separate from one sound card to another until Ctrl-C.

    Each callback gets one network step of audio (``live.step`` frames), so
    a run never has to share a callback with another; the cards add their
    own buffering on top of ``--latency``.

    Returns
    -------
    dict
        ``underruns`` (PortAudio's input overflows and output underflows).
    """
    sd = _sounddevice()
    res = {"underruns": 0, "stopped": "interrupted"}

    def callback(indata, outdata, frames, t, status):
        if status.input_overflow or status.output_underflow:
            res["underruns"] += 1
        v, a = live.process(indata.T)
        outdata[:] = pick(v, a, stem, vocal_level_db).T

    with sd.Stream(samplerate=live.sr, channels=live.channels, dtype="float32",
                   blocksize=live.step, device=(_device(input_device), _device(output_device)),
                   callback=callback):
        try:
            while True:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return res


def _main(argv):
    args = get_parser().parse_args(argv)
    if args.list_devices:
        print(list_devices())
        return 0
    pipe_in, pipe_out = args.input is not None, args.output is not None
    dev_in, dev_out = args.input_device is not None, args.output_device is not None
    if pipe_in and args.input != "-" or pipe_out and args.output != "-":
        raise UserError("--input and --output take '-' (stdin / stdout); use --input-device / "
                        "--output-device for sound cards")
    if not (pipe_in or dev_in) or not (pipe_out or dev_out):
        raise UserError("give an input (--input - or --input-device) and an output "
                        "(--output - or --output-device)")
    if pipe_in != pipe_out:
        raise UserError("a pipe and a sound card cannot be mixed yet: use --input - with "
                        "--output -, or two devices")
    if args.stem != "mix" and args.vocal_level != float("-inf"):
        raise UserError("--vocal-level applies to --stem mix only")
    live = LiveSeparator(args.model, sr=args.rate, channels=args.channels, latency=args.latency,
                         highband=args.highband, wiener=args.wiener)
    if not args.quiet:
        print(f"{PROG}: model {live.sep.model_info['summary']}", file=sys.stderr, flush=True)
    if pipe_in:
        res = run_pipe(live, sys.stdin.buffer, sys.stdout.buffer, args.stem, args.vocal_level,
                       args.block)
        if res["dropped_bytes"]:
            print(f"{PROG}: note: the input ended inside a frame; {res['dropped_bytes']} "
                  "bytes dropped", file=sys.stderr)
    else:
        res = run_devices(live, args.input_device, args.output_device, args.stem,
                          args.vocal_level)
    s = live.stats
    if not args.quiet:
        late = late_summary(live)
        under = f", {res['underruns']} underruns" if res.get("underruns") else ""
        print(f"{PROG}: {s['audio_s']:.1f} s of audio at a CPU load of {s['load']:.2f} "
              f"({1 / s['load'] if s['load'] else float('inf'):.1f}x real time){late}{under}; "
              f"{res['stopped']}", file=sys.stderr)
    return 0


def late_summary(live):
    """The summary's words on late blocks: what they are and the latency that avoids them.

    Parameters
    ----------
    live : LiveSeparator

    Returns
    -------
    str
        Empty when no block was late.
    """
    s = live.stats
    if not s["late"]:
        return ""
    many = s["late"] != 1
    need = live.latency_needed()
    text = (f", {s['late']} late block{'s' if many else ''} (the separation fell up to "
            f"{s['max_backlog_s']:.2f} s behind the stream, so a sound card would have run dry: ")
    text += (f"--latency {need:g} would have avoided {'them' if many else 'it'}" if need
             else "this machine is slower than real time for this model")
    return text + ", or free the CPU)"


def main(argv=None):
    """Run the CLI.

    Parameters
    ----------
    argv : list of str or None

    Returns
    -------
    int
        Exit status (0 also after Ctrl-C or SIGTERM, once the output is flushed).
    """
    return run_cli(_main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
