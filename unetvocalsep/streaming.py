"""Streaming separation with a chosen latency: :class:`LiveSeparator` (``python -m unetvocalsep.live`` is its command line).

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
import time

import numpy as np

from . import constants
from .errors import UserError
from .highband import DEFAULT_HIGHBAND
from .inputs import to_float32
from .limits import MIN_HOP_SECONDS, check_rate, check_samples

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
