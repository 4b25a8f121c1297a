"""Streaming separation with a chosen latency: :class:`LiveSeparator` and ``python -m unetvocalsep.live``.

The output is the input delayed by exactly ``latency`` seconds.  Every
``hop`` seconds of new input, the network runs on a window that ends at the
newest sample (the past for context, the last ``latency`` seconds as
look-ahead), and the stretch of the output that is now due is taken from it:
its samples had between ``latency - hop`` and ``latency`` seconds of
look-ahead.  Consecutive stretches are cross-faded over a few milliseconds.
The vocals are the offline pipeline's (:func:`~unetvocalsep.masking.apply_mask`
on that window); the accompaniment is the delayed input minus the vocals, so
with a soft mask the two add up to the delayed input.

Normalisation: the article divides by the whole track's maximum, which a
stream does not have.  Here it is a running peak: the largest 16 kHz
magnitude seen so far (look-ahead included), never below the magnitude of a
-40 dBFS sine.  docs/LIVE.md measures what that and the latency cost
against the offline ``separate``.

Examples
--------
>>> import numpy as np
>>> live = LiveSeparator(sr=16000, channels=1, latency=0.5)
>>> x = np.random.default_rng(0).normal(0, 0.1, (1, 16000)).astype(np.float32)
>>> v, a = live.process(x)
>>> v.shape, a.shape
((1, 16000), (1, 16000))
>>> bool(np.allclose(v + a, np.concatenate([np.zeros((1, 8000)), x[:, :8000]], 1), atol=1e-5))
True
"""
import sys
import time

import numpy as np

from . import constants
from .errors import UserError
from .highband import DEFAULT_HIGHBAND, HIGHBANDS

#: Latencies offered (s).
MIN_LATENCY, MAX_LATENCY = 0.1, 4.0
#: Default latency (s).
LATENCY = 0.5
#: Context before the look-ahead that each network window gets, at least (s).
CONTEXT_SECONDS = 1.5
#: Cross-fade between consecutive output stretches (s).
FADE_SECONDS = 0.005
#: The running peak never falls below the 16 kHz magnitude of a sine at this level.
PEAK_FLOOR_DBFS = -40.0


def default_hop(latency):
    """How often the network runs (s) for a latency: a quarter of it, 50-250 ms.

    A shorter hop gives the last samples of each stretch more look-ahead: at
    0.5 s, 125 ms instead of 250 ms gained 0.65 dB of vocal SDR, 62 ms only
    0.05 dB more.  One run costs about 26 ms on two cores up to 0.5 s (a
    2-second window, 64 frames at 16 kHz), so the 50 ms floor keeps the load
    under 0.5 at 0.1 s, where a shorter hop gained nothing.  docs/LIVE.md
    has the measurements.

    Parameters
    ----------
    latency : float

    Returns
    -------
    float
    """
    return float(min(max(latency / 4.0, 0.05), 0.25))


class LiveSeparator:
    """Separate a stream block by block, with a fixed delay.

    Parameters
    ----------
    model : str, UNet, Separator or None
        As for :class:`~unetvocalsep.separator.Separator` (default: the bundled model).
    sr : int
        Rate of the stream.
    channels : int
    latency : float
        Delay of the output (s), :data:`MIN_LATENCY` to :data:`MAX_LATENCY`.
    hop : float or None
        Seconds of input between network runs (default :func:`default_hop`).
    hard_mask : bool
    highband : str
        One of :data:`~unetvocalsep.highband.HIGHBANDS`, as for separation.
    wiener : bool
        Refine each stretch with the multichannel Wiener filter
        (:mod:`unetvocalsep.wiener`), as ``separate --wiener``.

    Attributes
    ----------
    delay : int
        The delay in samples (``round(latency * sr)``).
    stats : dict
        ``blocks``, ``audio_s`` (stream time processed), ``cpu_s`` (time
        spent in :meth:`process`), ``load`` (cpu_s / audio_s), ``late``
        (blocks whose processing took longer than their own duration: where
        a sound card would underrun), ``runs`` (network runs).

    Examples
    --------
    See the module docstring.
    """

    def __init__(self, model=None, sr=44100, channels=2, latency=LATENCY, hop=None,
                 hard_mask=False, highband=DEFAULT_HIGHBAND, wiener=False):
        from .audio import check_rate
        from .separator import Separator

        if not (MIN_LATENCY <= latency <= MAX_LATENCY):
            raise UserError(f"latency must be {MIN_LATENCY} to {MAX_LATENCY} s, got {latency}")
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
            raise UserError(f"channels must be 1 to 64, got {channels}")
        check_rate(sr, "stream")
        self.sep = model if isinstance(model, Separator) else Separator(
            model, hard_mask=hard_mask, highband=highband, wiener=wiener)
        self.sr, self.channels, self.latency = int(sr), int(channels), float(latency)
        self.delay = int(round(self.latency * sr))
        from .limits import MIN_HOP_SECONDS

        if hop is not None and (isinstance(hop, bool) or not isinstance(hop, (int, float, np.number))
                                or not np.isfinite(hop) or hop < MIN_HOP_SECONDS):
            raise UserError(f"hop must be at least {MIN_HOP_SECONDS:g} s, got {hop!r}")
        hop = default_hop(latency) if hop is None else float(hop)
        self.step = max(int(round(hop * sr)), 1)
        self.fade = min(int(round(FADE_SECONDS * sr)), self.step)
        if self.step + self.fade > self.delay:
            raise UserError(f"hop {hop} s is too long for a latency of {latency} s")
        # The window: look-ahead plus context, in whole 64-frame units at 16 kHz.
        span16 = (self.latency + CONTEXT_SECONDS) * constants.SR
        frames = -(-int(np.ceil(span16 / constants.HOP)) // 64) * 64
        self.window = int(round(frames * constants.HOP * sr / constants.SR))
        self._buf = np.zeros((self.channels, self.window), dtype=np.float32)  # newest input
        self._line = np.zeros((self.channels, self.delay), dtype=np.float32)  # delay line
        self._seen = 0                  # input samples received
        # vocals computed and not yet returned; output [0, step) is the separation
        # of the silence before the stream (delay >= step)
        self._ready = np.zeros((self.channels, self.step), dtype=np.float32)
        self._tail = None               # the previous run's fade-out part
        self._backlog = 0.0             # processing time beyond real time (s)
        self._emitted = 0               # output samples returned
        sine = 10 ** (PEAK_FLOOR_DBFS / 20) * np.sum(np.hanning(constants.N_FFT)) / 2
        self._peak = float(sine)
        self.stats = {"blocks": 0, "audio_s": 0.0, "cpu_s": 0.0, "load": 0.0, "late": 0,
                      "runs": 0, "max_backlog_s": 0.0}

    # -- one network run ---------------------------------------------------------------
    def _run(self):
        """Vocals for the stretch due now, from the window ending at the newest sample.

        The network sees the whole window at 16 kHz; the full-rate STFT and
        its inverse cover only the stretch and one window length either side,
        which gives the same samples as the whole window would.
        """
        from .masking import vocals_span

        x = self._buf
        mag = self.sep.mag16(x, self.sr)
        self._peak = max(self._peak, float(mag.max()))
        mask = self.sep.mask16(x, self.sr, self._peak, mag=mag)
        self.stats["runs"] += 1
        # the stretch now due: window samples [a, b) (the outputs of this run)
        a = self.window - self.delay
        b = a + self.step + self.fade
        seg = vocals_span(x, self.sr, mask, a, b, self.sep.highband, self.sep.hard_mask,
                          wiener=self.sep.wiener)
        if self._tail is not None and self.fade:
            ramp = np.linspace(0.0, 1.0, self.fade, endpoint=False, dtype=np.float32)
            seg = seg.copy()
            seg[:, :self.fade] = self._tail * (1 - ramp) + seg[:, :self.fade] * ramp
        self._tail = seg[:, self.step:].copy() if self.fade else None
        return seg[:, :self.step]

    def process(self, block):
        """Feed a block, get the same number of output samples back, ``latency`` later.

        Parameters
        ----------
        block : numpy.ndarray, shape (channels, samples)
            Any number of samples (0 included); 1-D for one channel. Floats
            are taken as they are (full scale 1.0); integer PCM is scaled as
            :meth:`Separator.separate <unetvocalsep.separator.Separator.separate>`
            does (int16 by 1/32768, ...).

        Returns
        -------
        vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
            Output sample ``k`` of the stream is the separation of input sample
            ``k - delay`` (silence before the stream began).
        """
        from .limits import check_samples
        from .inputs import to_float32

        t0 = time.perf_counter()
        x = to_float32(block)
        if x.ndim == 1 and self.channels == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise UserError(f"expected a block of shape ({self.channels}, samples), "
                            f"got {x.shape}")
        check_samples(x, "the stream")   # an AudioError, a UserError
        n = x.shape[1]
        # the delay line: the output is the separation of this
        line = np.concatenate([self._line, x], axis=1)
        delayed, self._line = line[:, :n], line[:, n:]
        # one network run each time the input reaches a multiple of `step`;
        # run j yields the vocals of output samples [j*step, (j+1)*step)
        parts = [self._ready]
        pos = 0
        while pos < n:
            take = min(n - pos, self.step - self._seen % self.step)
            self._buf = np.concatenate([self._buf[:, take:], x[:, pos:pos + take]], axis=1)
            self._seen += take
            pos += take
            if self._seen % self.step == 0:
                parts.append(self._run())
        ready = np.concatenate(parts, axis=1) if len(parts) > 1 else self._ready
        vocals, self._ready = ready[:, :n], ready[:, n:]
        if self._emitted < self.delay:     # before the stream began: silence, not the
            vocals = vocals.copy()         # STFT's spread of its first onset
            vocals[:, :self.delay - self._emitted] = 0.0
        self._emitted += n
        acc = delayed - vocals
        dt = time.perf_counter() - t0
        s = self.stats
        s["blocks"] += 1
        s["audio_s"] += n / self.sr
        s["cpu_s"] += dt
        s["load"] = s["cpu_s"] / s["audio_s"] if s["audio_s"] else 0.0
        # Late: with input arriving in real time, the work is now behind by
        # more than the output buffers ahead (delay - step): a sound card
        # would underrun here.
        self._backlog = max(0.0, self._backlog + dt - n / self.sr)
        s["max_backlog_s"] = max(s["max_backlog_s"], self._backlog)
        if self._backlog > (self.delay - self.step) / self.sr:
            s["late"] += 1
        return vocals, acc

    def latency_needed(self):
        """The smallest ``latency`` that would have had no late block in this run so far.

        A block is late when the work is behind real time by more than the
        output is ahead of it, ``latency - hop``; this is the smallest latency
        (in 0.05 s steps, with the default hop) whose margin covered the
        largest backlog measured (``stats['max_backlog_s']``). The backlog
        itself would change a little with another latency (the network runs
        every ``hop``), so it is an estimate.

        Returns
        -------
        float or None
            None when even :data:`MAX_LATENCY` would not have been enough
            (the machine is slower than real time).
        """
        need = self.stats["max_backlog_s"]
        for cents in range(int(MIN_LATENCY * 100), int(MAX_LATENCY * 100) + 1, 5):
            lat = cents / 100
            if lat - default_hop(lat) > need:
                return lat
        return None

    def flush(self):
        """The last ``delay`` samples: what is still inside, pushed out by silence.

        Returns
        -------
        vocals, accompaniment : numpy.ndarray, shape (channels, delay), float32
        """
        return self.process(np.zeros((self.channels, self.delay), dtype=np.float32))


# -- the command line ---------------------------------------------------------------------
PROG = "unetvocalsep.live"
STEMS = ("mix", "vocals", "accompaniment")
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
    from .outputs import vocal_mix

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
    p.add_argument("--stem", choices=STEMS, default="mix",
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
    from .signals import run_cli
    return run_cli(_main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
