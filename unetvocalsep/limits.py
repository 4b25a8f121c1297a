"""Bounds on what the user gives: sample values, gains, window lengths, rates.

Every number from the command line or the Python API is checked against
these before any work starts, so that a finite but absurd value gives one
clear line instead of a traceback, a hang or garbage (issue 28: a single
3e38 sample once produced 4,262 garbage samples, ``--gain 1000`` wrote
infinite stems, ``out_sr=nan`` spun in the resampler forever).

Examples
--------
>>> import numpy as np
>>> check_samples(np.array([[0.5, -2.0]], np.float32), "song.wav")
>>> check_samples(np.array([[3e38]], np.float32), "song.wav")
Traceback (most recent call last):
    ...
unetvocalsep.errors.AudioError: song.wav has samples of 3e+38, beyond +-1e+06 (120 dB over full scale): scale it down
"""
import numpy as np

from .errors import AudioError, UserError

__all__ = ["MAX_SAMPLE", "MAX_GAIN_DB", "MAX_CHUNK_SECONDS", "MIN_HOP_SECONDS",
           "TRAIN_BYTES_PER_CROP", "check_samples", "check_gain_db", "check_out_sr",
           "check_batch_size", "mem_available", "MIN_SR", "MAX_SR", "check_rate"]

#: Sample rates accepted, Hz (input and output): below 8 kHz no voice is left
#: to find, above 768 kHz the header is almost certainly wrong.
MIN_SR, MAX_SR = 8000, 768000
#: Largest accepted absolute sample value (full scale is 1.0). Float files
#: may exceed 1.0, but past this the STFT's sums of squares come near the
#: float32 range, and no real recording is 120 dB over full scale.
MAX_SAMPLE = 1e6
#: Largest gain, in dB either way (``--gain``): 1e5 in amplitude, which keeps
#: any accepted sample finite in float32.
MAX_GAIN_DB = 100.0
#: Longest window the network sees at once (``--chunk-seconds``), seconds.
MAX_CHUNK_SECONDS = 3600.0
#: Shortest live hop, seconds: below it the network would run for every few
#: samples (``LiveSeparator(hop=...)``).
MIN_HOP_SECONDS = 0.01


def check_samples(y, what):
    """Refuse samples that are not finite or are beyond :data:`MAX_SAMPLE`.

    Parameters
    ----------
    y : numpy.ndarray
    what : str
        The input, for the message.

    Raises
    ------
    AudioError
    """
    if not y.size:
        return
    hi = max(float(y.max()), -float(y.min()))   # NaN anywhere makes it NaN; no |y| copy
    if not np.isfinite(hi):
        raise AudioError(f"audio contains NaN or infinite samples: {what}")
    if hi > MAX_SAMPLE:
        raise AudioError(f"{what} has samples of {hi:.3g}, beyond +-{MAX_SAMPLE:.0e} "
                         f"(120 dB over full scale): scale it down")


def _number(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.number))


def check_gain_db(gain_db, name="gain"):
    """A gain in dB within +-:data:`MAX_GAIN_DB`, as float.

    Parameters
    ----------
    gain_db : float
    name : str

    Returns
    -------
    float

    Raises
    ------
    UserError
    """
    if not _number(gain_db) or not np.isfinite(gain_db) or abs(gain_db) > MAX_GAIN_DB:
        raise UserError(f"{name} must be a number of dB from -{MAX_GAIN_DB:g} to "
                        f"{MAX_GAIN_DB:g}, got {gain_db!r}")
    return float(gain_db)


def check_out_sr(out_sr):
    """An output sample rate: None (the input's), or a whole number of Hz in range.

    Parameters
    ----------
    out_sr : int or None

    Returns
    -------
    int or None

    Raises
    ------
    UserError
    """
    if out_sr is None:
        return None
    if not _number(out_sr) or not np.isfinite(out_sr) or int(out_sr) != out_sr \
            or not MIN_SR <= out_sr <= MAX_SR:
        raise UserError(f"the output rate must be a whole number of Hz from {MIN_SR} to "
                        f"{MAX_SR}, got {out_sr!r}")
    return int(out_sr)


#: Training memory per crop of a batch on the CPU (forward, backward and Adam,
#: 128 frames x 512 bins): measured 22 MB (batch 4 -> 16 took 155 -> 423 MB
#: more), rounded up.
TRAIN_BYTES_PER_CROP = 24 * 2 ** 20


def check_batch_size(batchsize, available=None):
    """Refuse a training batch that cannot fit in this machine's memory.

    Parameters
    ----------
    batchsize : int
    available : int or None
        Bytes of memory available (None: ``MemAvailable`` of /proc/meminfo;
        unknown: only the type is checked).

    Returns
    -------
    int

    Raises
    ------
    UserError
        Not a positive integer, or ``batchsize * TRAIN_BYTES_PER_CROP`` is more
        than the memory available (the kernel once killed ``finetune -b 100000``
        at 23 GB instead).
    """
    if isinstance(batchsize, (bool, np.bool_)) or not isinstance(batchsize, (int, np.integer)) \
            or batchsize < 1:
        raise UserError(f"the batch size must be a positive integer, got {batchsize!r}")
    available = mem_available() if available is None else available
    if available is not None and batchsize * TRAIN_BYTES_PER_CROP > available:
        most = max(int(available // TRAIN_BYTES_PER_CROP), 1)
        raise UserError(f"a batch of {batchsize} crops needs about "
                        f"{batchsize * TRAIN_BYTES_PER_CROP / 2 ** 30:.1f} GiB and "
                        f"{available / 2 ** 30:.1f} GiB is available: use -b {most} or less")
    return int(batchsize)


def mem_available():
    """``MemAvailable`` from /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_rate(sr, what):
    """Refuse a sample rate outside [:data:`MIN_SR`, :data:`MAX_SR`].

    Parameters
    ----------
    sr : int
    what : str
        Named in the message (a path, ``'input'``...).

    Raises
    ------
    AudioError
    """
    if not MIN_SR <= sr <= MAX_SR:
        raise AudioError(f"unsupported sample rate {sr} Hz (accepted: {MIN_SR}-{MAX_SR} Hz): {what}")
