"""Streaming separation with a chosen latency: :class:`LiveSeparator`.

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
    """How often the network runs (s) for a latency: a quarter of it, 20-250 ms.

    Parameters
    ----------
    latency : float

    Returns
    -------
    float
    """
    return float(min(max(latency / 4.0, 0.02), 0.25))


class LiveSeparator:
    """Separate a stream block by block, with a fixed delay.

    Parameters
    ----------
    model : str, UNet, Separator or None
        As for :class:`~unetvocalsep.separate.Separator` (default: the bundled model).
    sr : int
        Rate of the stream.
    channels : int
    latency : float
        Delay of the output (s), :data:`MIN_LATENCY` to :data:`MAX_LATENCY`.
    hop : float or None
        Seconds of input between network runs (default :func:`default_hop`).
    hard_mask : bool
    highband : {'average', 'zero'}

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
                 hard_mask=False, highband="average"):
        from .audio import check_rate
        from .separate import Separator

        if not (MIN_LATENCY <= latency <= MAX_LATENCY):
            raise UserError(f"latency must be {MIN_LATENCY} to {MAX_LATENCY} s, got {latency}")
        if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= 64:
            raise UserError(f"channels must be 1 to 64, got {channels}")
        check_rate(sr, "stream")
        self.sep = model if isinstance(model, Separator) else Separator(
            model, hard_mask=hard_mask, highband=highband)
        self.sr, self.channels, self.latency = int(sr), int(channels), float(latency)
        self.delay = int(round(self.latency * sr))
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
        sine = 10 ** (PEAK_FLOOR_DBFS / 20) * np.sum(np.hanning(constants.N_FFT)) / 2
        self._peak = float(sine)
        self.stats = {"blocks": 0, "audio_s": 0.0, "cpu_s": 0.0, "load": 0.0, "late": 0,
                      "runs": 0}

    # -- one network run ---------------------------------------------------------------
    def _run(self):
        """Vocals for the stretch due now, from the window ending at the newest sample."""
        from .audio import to_mono16
        from .spectrogram import stft

        x = self._buf
        mag = np.abs(stft(to_mono16(x, self.sr)[0]))
        self._peak = max(self._peak, float(mag.max()))
        mask = self.sep.mask16(x, self.sr, self._peak, mag=mag)
        vocals, _ = self.sep.apply_mask(x, self.sr, mask)
        self.stats["runs"] += 1
        # the stretch now due: output samples [end - delay, end - delay + step) (+ fade)
        end = self.window
        a = end - self.delay
        seg = vocals[:, a:a + self.step + self.fade]
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
        block : numpy.ndarray, shape (channels, samples), float
            Any number of samples (0 included); 1-D for one channel.

        Returns
        -------
        vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
            Output sample ``k`` of the stream is the separation of input sample
            ``k - delay`` (silence before the stream began).
        """
        t0 = time.perf_counter()
        x = np.asarray(block, dtype=np.float32)
        if x.ndim == 1 and self.channels == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise UserError(f"expected a block of shape ({self.channels}, samples), "
                            f"got {x.shape}")
        if not np.isfinite(x).all():
            raise UserError("the stream has NaN or infinite samples")
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
        acc = delayed - vocals
        dt = time.perf_counter() - t0
        s = self.stats
        s["blocks"] += 1
        s["audio_s"] += n / self.sr
        s["cpu_s"] += dt
        s["load"] = s["cpu_s"] / s["audio_s"] if s["audio_s"] else 0.0
        if n and dt > n / self.sr:
            s["late"] += 1
        return vocals, acc

    def flush(self):
        """The last ``delay`` samples: what is still inside, pushed out by silence.

        Returns
        -------
        vocals, accompaniment : numpy.ndarray, shape (channels, delay), float32
        """
        return self.process(np.zeros((self.channels, self.delay), dtype=np.float32))
