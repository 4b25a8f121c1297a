"""The command-line parsers' base class and checked numeric types.

Every number a CLI takes goes through one of these types, so ``nan``,
``inf``, a negative count or a zero length is refused before any work. Every
CLI's parser is a :class:`Parser`, whose errors are a
:class:`~unetvocalsep.errors.UserError`: one line on stderr
(``prog: error: argument --x: ...``) and exit status 1, like every other
bad input.

Examples
--------
>>> import argparse
>>> from unetvocalsep.argtypes import positive_float
>>> p = argparse.ArgumentParser()
>>> _ = p.add_argument("--seconds", type=positive_float)
>>> p.parse_args(["--seconds", "2.5"]).seconds
2.5
"""
import argparse
import math
import re

from .errors import UserError, cli_name
from .limits import MAX_CHUNK_SECONDS, MAX_GAIN_DB, MAX_SR, MIN_SR

#: What the parsers take as a negative number (a value, not an option):
#: argparse's own ``-12`` and ``-.5``, and also ``-inf``, ``-infinity`` and
#: ``-1e3``, so that ``--vocal-level -inf`` works as written.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity)$",
                             re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose errors are one :class:`UserError` line.

    Its ``prog`` is what the user typed: ``unetvocalsep separate`` under the
    console command, ``python -m unetvocalsep.separate`` otherwise (see
    :func:`unetvocalsep.errors.cli_name`). Negative numbers, ``-inf``
    included, are values (:data:`NEGATIVE_NUMBER`).
    """

    def __init__(self, *args, **kwargs):
        if kwargs.get("prog"):
            kwargs["prog"] = cli_name(kwargs["prog"], usage=True)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message):
        raise UserError(message)


def _number(text, kind):
    try:
        return kind(text)
    except (TypeError, ValueError):
        name = "int" if kind is int else "float"
        raise argparse.ArgumentTypeError(f"invalid {name} value: {text!r}") from None


def finite_float(text):
    """A finite float (``nan`` and ``inf`` refused)."""
    x = _number(text, float)
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return x


def positive_float(text):
    """A finite float > 0."""
    x = finite_float(text)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return x


def gain_db(text):
    """A gain in dB within +-:data:`unetvocalsep.limits.MAX_GAIN_DB`."""
    x = finite_float(text)
    if abs(x) > MAX_GAIN_DB:
        raise argparse.ArgumentTypeError(f"{text!r} is outside -{MAX_GAIN_DB:g} to "
                                         f"{MAX_GAIN_DB:g} dB")
    return x


def window_seconds(text):
    """A positive window length up to :data:`unetvocalsep.limits.MAX_CHUNK_SECONDS`."""
    x = positive_float(text)
    if x > MAX_CHUNK_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} is longer than {MAX_CHUNK_SECONDS:g} s")
    return x


def nonnegative_float(text):
    """A finite float >= 0."""
    x = finite_float(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return x


def fraction(text):
    """A float in [0, 1)."""
    x = finite_float(text)
    if not 0 <= x < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return x


def decay(text):
    """A float in (0, 1): a moving average's decay."""
    x = finite_float(text)
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (say 0.999)")
    return x


def positive_int(text):
    """An int >= 1."""
    x = _number(text, int)
    if x < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return x


def nonnegative_int(text):
    """An int >= 0."""
    x = _number(text, int)
    if x < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return x


def port(text):
    """A TCP port, 0..65535 (0: any free port)."""
    x = _number(text, int)
    if not 0 <= x <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return x


def sample_rate(text):
    """A sample rate in Hz accepted by :func:`unetvocalsep.limits.check_rate`."""
    x = _number(text, int)
    if not MIN_SR <= x <= MAX_SR:
        raise argparse.ArgumentTypeError(f"{text!r} is outside {MIN_SR}-{MAX_SR} Hz")
    return x


#: Words ``--vocal-level`` takes for -inf dB (no vocals).
VOCAL_OFF_WORDS = ("off", "none", "mute", "karaoke")


def vocal_level(text):
    """A level in dB from -inf (``-inf``, or ``off``) to 0, for ``--vocal-level``."""
    if str(text).strip().lower() in VOCAL_OFF_WORDS:
        return float("-inf")
    v = _number(text, float)
    if v != v or v > 0:
        raise argparse.ArgumentTypeError(f"the vocal level must be -inf to 0 dB, got {text}")
    return v
